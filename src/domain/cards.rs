//! The card lifecycle of card-issuance.md as pure rules: which transitions a
//! caseworker may make, and whether a person may file an application.

use super::CardState;

/// What a caseworker (or a bank, or the real-time channel) does to a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    /// Hand-over and activation (发放启用).
    Activate,
    /// Reported lost (挂失).
    ReportLost,
    /// Cancelled (注销) by a caseworker.
    Cancel,
}

impl CardAction {
    pub fn verb(self) -> &'static str {
        match self {
            CardAction::Activate => "activate",
            CardAction::ReportLost => "report lost",
            CardAction::Cancel => "cancel",
        }
    }

    /// The state a card in `from` moves to, or why it cannot.
    pub fn apply(self, from: CardState) -> Result<CardState, String> {
        use CardState::*;
        let to = match (self, from) {
            (CardAction::Activate, Made) => Active,
            (CardAction::ReportLost, Active | Made) => Lost,
            (CardAction::Cancel, Applied | InProduction | Made | Active | Lost) => Cancelled,
            _ => {
                let why = match (self, from) {
                    (CardAction::Activate, Applied | InProduction) => "the bank has not made it yet",
                    (CardAction::Activate, Active) => "it is already active",
                    (_, Rejected) => "the bank refused to make it",
                    (_, Cancelled) => "it is cancelled",
                    (CardAction::ReportLost, Lost) => "it is already reported lost",
                    (CardAction::ReportLost, _) => "it has not been handed over",
                    _ => "the lifecycle does not allow it",
                };
                return Err(format!("cannot {} a card that is {from}: {why}", self.verb()));
            }
        };
        Ok(to)
    }
}

/// What kind of application is filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationKind {
    /// A first card (申领). A person whose only card is lost gets a replacement of it.
    New,
    /// A replacement (补换); the old card stays usable until the new one is active.
    Replace,
    /// The active card is reported lost now, and a replacement applied for.
    Lost,
}

impl ApplicationKind {
    pub fn parse(s: &str) -> Option<ApplicationKind> {
        match s.trim() {
            "" | "new" | "申领" => Some(ApplicationKind::New),
            "replace" | "补换" | "换卡" => Some(ApplicationKind::Replace),
            "lost" | "挂失补卡" => Some(ApplicationKind::Lost),
            _ => None,
        }
    }
}

/// A card of the applicant, as far as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCard {
    pub id: i64,
    pub state: CardState,
    /// The card number, or the application id while there is none.
    pub label: String,
}

/// An application the rules allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The card the new one replaces (cancelled when the new one becomes active).
    pub replaces: Option<i64>,
    /// The active card to report lost first.
    pub report_lost: Option<i64>,
}

/// Whether a person may file an application of `kind`, given their cards.
pub fn check_application(deceased: bool, cards: &[HeldCard], kind: ApplicationKind) -> Result<Allowed, String> {
    if deceased {
        return Err("the person is recorded as deceased".into());
    }
    use CardState::*;
    if let Some(c) = cards.iter().find(|c| matches!(c.state, Applied | InProduction | Made)) {
        return Err(format!("an application is already in progress ({} is {})", c.label, c.state));
    }
    let active = cards.iter().find(|c| c.state == Active);
    let lost = cards.iter().filter(|c| c.state == Lost).max_by_key(|c| c.id);
    match kind {
        ApplicationKind::New => match (active, lost) {
            (Some(a), _) => Err(format!("card {} is active; apply for a replacement instead", a.label)),
            (None, lost) => Ok(Allowed { replaces: lost.map(|c| c.id), report_lost: None }),
        },
        ApplicationKind::Replace => match active.or(lost) {
            Some(old) => Ok(Allowed { replaces: Some(old.id), report_lost: None }),
            None => Err("the person has no active or lost card to replace".into()),
        },
        ApplicationKind::Lost => match (active, lost) {
            (Some(a), _) => Ok(Allowed { replaces: Some(a.id), report_lost: Some(a.id) }),
            (None, Some(l)) => Ok(Allowed { replaces: Some(l.id), report_lost: None }),
            (None, None) => Err("the person has no active card to report lost".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CardState::*;

    fn card(id: i64, state: CardState) -> HeldCard {
        HeldCard { id, state, label: format!("C{id}") }
    }

    #[test]
    fn every_transition_of_the_lifecycle() {
        for from in CardState::ALL {
            let expected = |action| match (action, *from) {
                (CardAction::Activate, Made) => Some(Active),
                (CardAction::ReportLost, Active | Made) => Some(Lost),
                (CardAction::Cancel, Rejected | Cancelled) => None,
                (CardAction::Cancel, _) => Some(Cancelled),
                _ => None,
            };
            for action in [CardAction::Activate, CardAction::ReportLost, CardAction::Cancel] {
                assert_eq!(action.apply(*from).ok(), expected(action), "{} from {from}", action.verb());
            }
        }
        let err = CardAction::Activate.apply(InProduction).unwrap_err();
        assert_eq!(err, "cannot activate a card that is in_production: the bank has not made it yet");
    }

    #[test]
    fn applications_follow_the_cards_a_person_holds() {
        let new = ApplicationKind::New;
        assert_eq!(check_application(false, &[], new), Ok(Allowed { replaces: None, report_lost: None }));
        assert!(check_application(true, &[], new).unwrap_err().contains("deceased"));
        assert!(check_application(false, &[card(1, Active)], new).unwrap_err().contains("replacement instead"));
        let in_progress = check_application(false, &[card(1, Lost), card(2, InProduction)], ApplicationKind::Replace);
        assert!(in_progress.unwrap_err().contains("C2 is in_production"));
        // A person whose card is lost gets a replacement of it, whatever they asked for.
        let lost = [card(1, Cancelled), card(3, Lost)];
        assert_eq!(check_application(false, &lost, new).unwrap().replaces, Some(3));
        assert_eq!(check_application(false, &lost, ApplicationKind::Lost).unwrap().report_lost, None);
        let active = [card(4, Active), card(3, Lost)];
        assert_eq!(
            check_application(false, &active, ApplicationKind::Lost),
            Ok(Allowed { replaces: Some(4), report_lost: Some(4) })
        );
        assert_eq!(check_application(false, &active, ApplicationKind::Replace).unwrap().replaces, Some(4));
        let none = check_application(false, &[card(1, Rejected)], ApplicationKind::Replace);
        assert!(none.unwrap_err().contains("no active or lost card"));
        assert_eq!(ApplicationKind::parse("挂失补卡"), Some(ApplicationKind::Lost));
        assert_eq!(ApplicationKind::parse("x"), None);
    }
}
