mod cli;
mod docker_trust;
mod notary_cli;
mod replicas;
mod signer;
mod util;
