//! States and anomaly codes (domain.md "States" and "Anomalies"), stored as
//! their `as_str()` text. One enum each, so a `match` lists every case.

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// A payout run's state: draft → approved → exported → closed; a draft may be discarded.
    RunState { Draft = "draft", Approved = "approved", Exported = "exported", Closed = "closed", Discarded = "discarded" }
);

text_enum!(
    /// An item's or a payment's state. `Held` items wait for their cause to clear;
    /// `Cancelled` and `NotPayable` items are never paid.
    ItemState {
        Pending = "pending",
        Held = "held",
        Scheduled = "scheduled",
        Approved = "approved",
        Sent = "sent",
        Paid = "paid",
        Failed = "failed",
        Unconfirmed = "unconfirmed",
        Cancelled = "cancelled",
        NotPayable = "not_payable",
    }
);

text_enum!(
    /// The lifecycle of a card (card-issuance.md).
    CardState {
        Applied = "applied",
        InProduction = "in_production",
        Made = "made",
        Rejected = "rejected",
        Active = "active",
        Lost = "lost",
        Cancelled = "cancelled",
    }
);

text_enum!(
    /// Every anomaly code of domain.md, run-time and reconciliation alike.
    AnomalyCode {
        UnknownPerson = "unknown_person",
        NameMismatch = "name_mismatch",
        Deceased = "deceased",
        DuplicateLine = "duplicate_line",
        AlreadyPaid = "already_paid",
        ExclusiveConflict = "exclusive_conflict",
        MissingPrerequisite = "missing_prerequisite",
        CapExceeded = "cap_exceeded",
        UnemploymentLimit = "unemployment_limit",
        NoActiveCard = "no_active_card",
        BankFailed = "bank_failed",
        DuplicateInReturn = "duplicate_in_return",
        ConflictingReturn = "conflicting_return",
        UnknownSerial = "unknown_serial",
        AmountMismatch = "amount_mismatch",
        AccountMismatch = "account_mismatch",
        MissingInReturn = "missing_in_return",
        DoublePaid = "double_paid",
        MissedPayment = "missed_payment",
        /// A card-making return names an application not in its batch.
        CardUnknownApplication = "card_unknown_application",
        /// A card-making return line's person_id is not the application's.
        CardPersonMismatch = "card_person_mismatch",
        /// A card number made by the bank is already held by another card.
        CardNumberTaken = "card_number_taken",
        /// An application answered again with the same outcome.
        CardDuplicateReturn = "card_duplicate_return",
        /// An application answered again with another outcome.
        CardConflictingReturn = "card_conflicting_return",
    }
);

impl AnomalyCode {
    /// Codes that hold an item: it may be paid once the cause is cleared.
    pub const HOLDS: [AnomalyCode; 7] = [
        AnomalyCode::UnknownPerson,
        AnomalyCode::NameMismatch,
        AnomalyCode::ExclusiveConflict,
        AnomalyCode::MissingPrerequisite,
        AnomalyCode::CapExceeded,
        AnomalyCode::UnemploymentLimit,
        AnomalyCode::NoActiveCard,
    ];

    /// Codes a run gives to items it will never pay.
    pub const NEVER_PAID: [AnomalyCode; 3] =
        [AnomalyCode::Deceased, AnomalyCode::DuplicateLine, AnomalyCode::AlreadyPaid];
}
