mod cli;
mod docker_trust;
mod hostile_uploads;
mod notary_cli;
mod notary_compat;
mod replicas;
mod signer;
mod util;
