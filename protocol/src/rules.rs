//! Domain rules that CRDT merge alone does not give.
//!
//! They are applied deterministically to the merged document, so every replica that holds the
//! same changes derives the same answer without writing anything: the status is a fold over the
//! transition history, never a stored field two devices could set concurrently.

use serde::{Deserialize, Serialize};

use crate::SchemaError;
use crate::job::{Escalation, Role, Transition};

/// The lifecycle states of a job (PRODUCT.md): `new → scheduled → assigned → en_route → on_site →
/// completed | incomplete | cancelled`, then `closed` once the feedback is in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, PartialOrd, Ord,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Opened by dispatch, not yet scheduled.
    #[default]
    New,
    /// Has an appointment window.
    Scheduled,
    /// Has an installer.
    Assigned,
    /// The installer is travelling to the site.
    EnRoute,
    /// The installer is on site.
    OnSite,
    /// The work is done.
    Completed,
    /// The visit ended without finishing; a follow-up visit is needed.
    Incomplete,
    /// Called off.
    Cancelled,
    /// Feedback is in; nothing more happens.
    Closed,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 9] = [
        Status::New,
        Status::Scheduled,
        Status::Assigned,
        Status::EnRoute,
        Status::OnSite,
        Status::Completed,
        Status::Incomplete,
        Status::Cancelled,
        Status::Closed,
    ];

    /// How far along the lifecycle a status is. The three ways a visit ends share a rank.
    pub fn rank(self) -> u8 {
        match self {
            Status::New => 0,
            Status::Scheduled => 1,
            Status::Assigned => 2,
            Status::EnRoute => 3,
            Status::OnSite => 4,
            Status::Completed | Status::Incomplete | Status::Cancelled => 5,
            Status::Closed => 6,
        }
    }

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Scheduled => "scheduled",
            Status::Assigned => "assigned",
            Status::EnRoute => "en_route",
            Status::OnSite => "on_site",
            Status::Completed => "completed",
            Status::Incomplete => "incomplete",
            Status::Cancelled => "cancelled",
            Status::Closed => "closed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Result<Self, SchemaError> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| SchemaError::InvalidValue {
                field: "status",
                value: s.to_owned(),
            })
    }

    /// Whether the visit has ended (completed, incomplete, cancelled or closed).
    pub fn is_terminal(self) -> bool {
        self.rank() >= 5
    }
}

/// The status a transition history ends in.
///
/// The fold walks the transitions in document order (which every replica agrees on): a
/// dispatch transition sets the status outright (only dispatch may move a job back, e.g. reopen
/// or schedule a follow-up visit); an installer transition only ever moves it forward to a higher
/// rank. So a concurrent `on_site` and `completed` end `completed` in either order, and a stale
/// `en_route` arriving after `completed` changes nothing.
pub fn effective_status(transitions: &[Transition]) -> Status {
    transitions
        .iter()
        .fold(Status::New, |current, transition| match transition.role {
            Role::Dispatch => transition.to,
            Role::Installer if transition.to.rank() > current.rank() => transition.to,
            Role::Installer => current,
        })
}

/// The statuses an installer may move a job to from the field.
pub const INSTALLER_TARGETS: [Status; 4] = [
    Status::EnRoute,
    Status::OnSite,
    Status::Completed,
    Status::Incomplete,
];

/// Checks that `role` may move a job from `from` to `to`. Dispatch may move a job anywhere,
/// backwards included, except to `closed` from anything but `completed` or `incomplete`: a job
/// is closed once the feedback on its visit is in, and a job that was never worked has none.
pub fn check_transition(from: Status, to: Status, role: Role) -> Result<(), SchemaError> {
    let allowed = match role {
        Role::Dispatch if to == Status::Closed => {
            matches!(from, Status::Completed | Status::Incomplete)
        }
        Role::Dispatch => from != to,
        Role::Installer => {
            INSTALLER_TARGETS.contains(&to)
                && to.rank() > from.rank()
                && from.rank() >= Status::Assigned.rank()
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(SchemaError::TransitionNotAllowed { from, to, role })
    }
}

/// The escalation ring a job is in: the ring dispatch set, raised to at least ring 2 once the
/// engineer on site asked for help; never above 3.
pub fn effective_ring(escalation: &Escalation) -> u8 {
    let asked = if escalation.help_requests.is_empty() {
        1
    } else {
        2
    };
    escalation.ring.max(asked).clamp(1, 3)
}

/// Checks that a string is a lower-case hex SHA-256 digest.
pub fn check_sha256(hex: &str) -> Result<(), SchemaError> {
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(SchemaError::InvalidValue {
            field: "sha256",
            value: hex.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(to: Status, role: Role) -> Transition {
        Transition {
            to,
            role,
            ..Transition::default()
        }
    }

    #[test]
    fn installer_moves_only_forward_in_either_order() {
        let assigned = transition(Status::Assigned, Role::Dispatch);
        let on_site = transition(Status::OnSite, Role::Installer);
        let completed = transition(Status::Completed, Role::Installer);
        let one = [assigned.clone(), on_site.clone(), completed.clone()];
        let other = [assigned, completed, on_site];
        assert_eq!(effective_status(&one), Status::Completed);
        assert_eq!(effective_status(&other), Status::Completed);
    }

    #[test]
    fn dispatch_may_move_back() {
        let history = [
            transition(Status::Assigned, Role::Dispatch),
            transition(Status::Incomplete, Role::Installer),
            transition(Status::Assigned, Role::Dispatch),
        ];
        assert_eq!(effective_status(&history), Status::Assigned);
    }

    #[test]
    fn same_rank_endings_keep_the_first() {
        let history = [
            transition(Status::Assigned, Role::Dispatch),
            transition(Status::Incomplete, Role::Installer),
            transition(Status::Completed, Role::Installer),
        ];
        assert_eq!(effective_status(&history), Status::Incomplete);
    }

    #[test]
    fn installer_transition_rules() {
        assert!(check_transition(Status::Assigned, Status::EnRoute, Role::Installer).is_ok());
        assert!(check_transition(Status::OnSite, Status::Completed, Role::Installer).is_ok());
        assert!(check_transition(Status::OnSite, Status::EnRoute, Role::Installer).is_err());
        assert!(check_transition(Status::New, Status::OnSite, Role::Installer).is_err());
        assert!(check_transition(Status::OnSite, Status::Closed, Role::Installer).is_err());
        assert!(check_transition(Status::Completed, Status::Assigned, Role::Dispatch).is_ok());
    }

    #[test]
    fn dispatch_closes_only_a_job_whose_visit_ended() {
        for from in Status::ALL {
            let closes = check_transition(from, Status::Closed, Role::Dispatch).is_ok();
            assert_eq!(
                closes,
                matches!(from, Status::Completed | Status::Incomplete),
                "{from:?} → closed"
            );
        }
        assert!(check_transition(Status::New, Status::Cancelled, Role::Dispatch).is_ok());
        assert!(check_transition(Status::Closed, Status::Assigned, Role::Dispatch).is_ok());
    }

    #[test]
    fn ring_rises_on_help_and_stays_within_three() {
        let mut escalation = Escalation {
            ring: 1,
            help_requests: vec![],
        };
        assert_eq!(effective_ring(&escalation), 1);
        escalation.help_requests.push(Default::default());
        assert_eq!(effective_ring(&escalation), 2);
        escalation.ring = 9;
        assert_eq!(effective_ring(&escalation), 3);
        escalation.ring = 0;
        escalation.help_requests.clear();
        assert_eq!(effective_ring(&escalation), 1);
    }

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()).ok(), Some(status));
        }
        assert!(Status::parse("done").is_err());
    }
}
