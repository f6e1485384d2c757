//! Subcommands whose arguments clap builds only when they run.
//!
//! Before it parses anything, clap builds the command tree: every subcommand with all of its
//! arguments and help text, and a copy of each global flag (`-s`, `-d`, `--tlscacert`, ...)
//! in each subcommand. For a short command such as a warm `signet list` that was a tenth of
//! the whole run, spent on subcommands that were not given. [`Lazy`] defers a subcommand's
//! arguments with [`Command::defer`] until clap enters that subcommand; parsing, `--help`
//! and usage errors are what they were.

use clap::{ArgMatches, Args, Command, FromArgMatches, Subcommand};

/// A subcommand's arguments (or nested subcommands) `T`, built when that subcommand is the
/// one given.
#[derive(Debug)]
pub(crate) struct Lazy<T>(pub(crate) T);

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Self)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Self)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

/// Runs `augment` on `cmd` as the derive would have before setting the subcommand's own
/// help text: the type's doc comment (which `augment` applies) must not replace the one
/// written on the subcommand.
fn keeping_help(cmd: Command, augment: fn(Command) -> Command) -> Command {
    let (about, long_about) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    let mut cmd = augment(cmd);
    if let Some(about) = about {
        cmd = cmd.about(about);
    }
    if let Some(long_about) = long_about {
        cmd = cmd.long_about(long_about);
    }
    cmd
}

/// Not for arguments with the ID of a global flag: clap copies the global flags into a
/// subcommand before its deferred arguments exist, so the two would clash (an eager
/// subcommand's own argument wins over the global one instead).
impl<T: Args> Args for Lazy<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }

    fn augment_args(cmd: Command) -> Command {
        cmd.defer(|c| keeping_help(c, T::augment_args))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        cmd.defer(|c| keeping_help(c, T::augment_args_for_update))
    }
}

impl<T: Subcommand> Subcommand for Lazy<T> {
    fn augment_subcommands(cmd: Command) -> Command {
        cmd.defer(|c| keeping_help(c, T::augment_subcommands))
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        cmd.defer(|c| keeping_help(c, T::augment_subcommands_for_update))
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}
