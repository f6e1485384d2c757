mod cli;
mod docker_trust;
mod hostile_uploads;
mod notary_cli;
mod replicas;
mod util;
