//! `inspect`: where the checkpoint stands, for the host's `check` command. It reads the
//! checkpoint through the same [`pass::open_checkpoint`] as a pass, so it refuses exactly what
//! a pass would, and it makes no request and saves nothing.

use crate::bindings::exports::zendesk::crm::collector::{
    CheckpointReport, ResourcePosition, SetupError,
};
use crate::bindings::zendesk::crm::types::Settings;
use crate::checkpoint::Checkpoint;
use crate::collect::Position;
use crate::host::{Host, WriteMode};
use crate::pass;
use crate::resources;

pub fn inspect(host: &dyn Host, settings: Settings) -> Result<CheckpointReport, SetupError> {
    let settings = pass::settings(settings, resources::ALL)?;
    let (checkpoint, mode) = pass::open_checkpoint(host, &settings, resources::ALL)?;
    let exists = mode == WriteMode::Replace;
    let resources = settings
        .resources
        .iter()
        .map(|r| position(&checkpoint, &r.name))
        .collect();
    Ok(CheckpointReport {
        exists,
        origin: checkpoint.origin.filter(|_| exists),
        resources,
    })
}

fn position(checkpoint: &Checkpoint, name: &str) -> ResourcePosition {
    let at = resources::find(resources::ALL, name).and_then(|r| r.position(checkpoint));
    let Position {
        start,
        reached,
        has_cursor,
    } = at.unwrap_or_default();
    ResourcePosition {
        name: name.to_owned(),
        started: at.is_some(),
        start,
        reached,
        has_cursor,
        pending: checkpoint.pending.contains_key(name),
        unconfirmed: checkpoint.unconfirmed.contains(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_host::FakeHost;
    use crate::pending_page_tests::{settings, tickets};

    #[test]
    fn no_checkpoint_is_a_first_run_and_inspecting_writes_nothing() {
        let host = FakeHost::default();
        let report = inspect(&host, settings(10)).expect("inspected");
        assert!(!report.exists);
        assert_eq!(report.origin, None);
        assert!(!report.resources[0].started);
        assert!(
            host.checkpoint.borrow().is_none(),
            "inspect saved a checkpoint"
        );
        assert_eq!(*host.steps.borrow(), 0, "inspect wrote");
        assert!(host.requests.borrow().is_empty(), "inspect sent a request");
    }

    #[test]
    fn a_pass_cut_after_its_put_shows_the_pending_page_and_its_start() {
        // Step 1 fixes the start, 2 confirms it, 3 saves the pending page (a last page,
        // which may grow; a full page needs no entry), 4 its put fails.
        let host = FakeHost {
            fail_at: Some(4),
            ..FakeHost::default()
        };
        host.tickets.replace(tickets(5));
        let _ = pass::run(&host, settings(10));
        let before = host.checkpoint.borrow().clone();
        let report = inspect(&host, settings(10)).expect("inspected");
        let tickets = &report.resources[0];
        assert!(report.exists);
        assert_eq!(report.origin.as_deref(), Some("http://zendesk.test"));
        assert!(tickets.started && tickets.pending && !tickets.unconfirmed);
        assert_eq!(tickets.start, Some(0));
        assert_eq!(
            *host.checkpoint.borrow(),
            before,
            "inspect changed the checkpoint"
        );
    }

    #[test]
    fn another_accounts_checkpoint_is_refused_as_a_pass_refuses_it() {
        let host = FakeHost::default();
        host.checkpoint.replace(Some(
            Checkpoint::new("https://other.zendesk.com").to_bytes(),
        ));
        match inspect(&host, settings(10)) {
            Err(SetupError::ForeignCheckpoint(why)) => {
                assert!(why.contains("https://other.zendesk.com"), "{why}")
            }
            other => panic!("not refused: {other:?}"),
        }
    }
}
