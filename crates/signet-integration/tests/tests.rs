mod cli;
mod docker_trust;
mod keys;
mod notary_cli;
mod replicas;
mod util;
