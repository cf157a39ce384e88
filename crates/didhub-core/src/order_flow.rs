//! An order's life: its states, which changes are allowed and who may make them, the reasons
//! a rejection gives, and the dates promised after submission. The store applies these rules
//! inside the transaction that changes an order; the API and the command line call the store.
//!
//! ```text
//! quote ──confirm──▶ draft ──submit──▶ submitted ──▶ registered ──▶ [scheduled] ──▶ completed
//!                                         │   ▲          ▲
//!                    awaiting_documents ◀─┤   │          │
//!                    awaiting_signature ◀─┘───┘  awaiting_stock
//! any open state ──▶ rejected (operations, a reason code) | cancelled (the partner before
//! registration, operations until completion)
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Service};
use crate::number::Country;

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// A customer without an active license asks first; confirming it makes the order.
    Quote,
    /// Being filled in; nothing is promised yet.
    Draft,
    /// Complete and checked; waiting for operations to register it.
    Submitted,
    /// Submitted, but a document the service needs (LOA, invoice) is missing.
    AwaitingDocuments,
    /// Submitted in a country where an e-signed agreement precedes delivery (AE, SA).
    AwaitingSignature,
    /// Registration found too few numbers in stock; what is missing is recorded.
    AwaitingStock,
    /// Registered with operations (numbers allocated, or entered as `porting`).
    Registered,
    /// A porting date is agreed.
    Scheduled,
    Completed,
    Rejected,
    Cancelled,
}

impl OrderState {
    pub const ALL: [OrderState; 11] = [
        OrderState::Quote,
        OrderState::Draft,
        OrderState::Submitted,
        OrderState::AwaitingDocuments,
        OrderState::AwaitingSignature,
        OrderState::AwaitingStock,
        OrderState::Registered,
        OrderState::Scheduled,
        OrderState::Completed,
        OrderState::Rejected,
        OrderState::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OrderState::Quote => "quote",
            OrderState::Draft => "draft",
            OrderState::Submitted => "submitted",
            OrderState::AwaitingDocuments => "awaiting_documents",
            OrderState::AwaitingSignature => "awaiting_signature",
            OrderState::AwaitingStock => "awaiting_stock",
            OrderState::Registered => "registered",
            OrderState::Scheduled => "scheduled",
            OrderState::Completed => "completed",
            OrderState::Rejected => "rejected",
            OrderState::Cancelled => "cancelled",
        }
    }

    /// No change leaves these.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            OrderState::Completed | OrderState::Rejected | OrderState::Cancelled
        )
    }

    /// The order's fields may still be changed (by its partner or by staff).
    pub fn is_editable(&self) -> bool {
        matches!(
            self,
            OrderState::Quote | OrderState::Draft | OrderState::AwaitingDocuments
        )
    }

    /// Submitted and not finished: the promise runs (overdue and at-risk lists).
    pub fn is_promised(&self) -> bool {
        !self.is_final() && !matches!(self, OrderState::Quote | OrderState::Draft)
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OrderState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = OrderState::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown order state '{s}' (expected one of: {})",
                    all.join(", ")
                )
            })
    }
}

/// Who asks for a change: the partner's users (and staff acting for them), or operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Partner,
    Operations,
}

/// A change refused by the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("an order that is {from} cannot become {to}")]
    NotAllowed { from: OrderState, to: OrderState },
    #[error("only operations can make an order {to}")]
    OperationsOnly { to: OrderState },
}

/// Checks one change of state. Staff acting for a partner pass `Side::Partner` for the
/// partner's changes (confirm, submit, sign, cancel) and `Side::Operations` for theirs.
pub fn check_transition(from: OrderState, to: OrderState, side: Side) -> Result<(), FlowError> {
    use OrderState::*;
    let allowed = match (from, to) {
        (Quote, Draft) => true,
        (Quote | Draft | AwaitingDocuments, Submitted) => true,
        (Submitted, AwaitingDocuments | AwaitingSignature) => true,
        (AwaitingSignature, Submitted) => true,
        (Submitted | AwaitingStock, Registered | AwaitingStock) => true,
        (Registered | Scheduled, Scheduled) => true,
        (Registered | Scheduled, Completed) => true,
        (f, Rejected) => !f.is_final() && !matches!(f, Quote | Draft),
        (f, Cancelled) => !f.is_final(),
        _ => false,
    };
    if !allowed {
        return Err(FlowError::NotAllowed { from, to });
    }
    let operations_only = match to {
        Registered | AwaitingStock | Scheduled | Completed | Rejected => true,
        Cancelled => matches!(from, Registered | Scheduled),
        _ => false,
    };
    if operations_only && side == Side::Partner {
        return Err(FlowError::OperationsOnly { to });
    }
    Ok(())
}

/// Why operations reject an order or one of its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The number is not one the losing operator holds for this customer.
    NumberNotPortable,
    /// Name, address or identifier differ from the losing operator's records.
    DetailsMismatch,
    /// A document is unreadable, unsigned or does not match the order.
    DocumentsInvalid,
    /// The losing operator refused without a more precise reason.
    OperatorRefused,
    /// The area or range cannot be supplied.
    NotAvailable,
    /// The customer asked to stop.
    CustomerRequest,
    Other,
}

impl RejectReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectReason::NumberNotPortable => "number_not_portable",
            RejectReason::DetailsMismatch => "details_mismatch",
            RejectReason::DocumentsInvalid => "documents_invalid",
            RejectReason::OperatorRefused => "operator_refused",
            RejectReason::NotAvailable => "not_available",
            RejectReason::CustomerRequest => "customer_request",
            RejectReason::Other => "other",
        }
    }
}

/// What a submission leads to, after `submitted`: waiting for documents, for a signature, or
/// nothing more (operations register it).
pub fn after_submit(missing_documents: bool, offer_needs_agreement: bool) -> Option<OrderState> {
    if missing_documents {
        Some(OrderState::AwaitingDocuments)
    } else if offer_needs_agreement {
        Some(OrderState::AwaitingSignature)
    } else {
        None
    }
}

/// The date promised once an agreement is signed on `signed` (AE: 2 working days, SA: 3; the
/// catalog's `agreement_ready_days`). `None` where the country needs no agreement.
pub fn promised_after_signing(
    catalog: &Catalog,
    country: Country,
    signed: NaiveDate,
    add_working_days: impl Fn(NaiveDate, u32) -> Result<NaiveDate, String>,
) -> Result<Option<NaiveDate>, String> {
    match catalog.offer(country).agreement_ready_days {
        Some(days) => add_working_days(signed, days).map(Some),
        None => Ok(None),
    }
}

/// The date inbound calls work by instant virtual porting: the catalog's IVP time frame
/// (2 working days) after the UTC date of submission.
pub fn ivp_promise(
    catalog: &Catalog,
    submitted: NaiveDate,
    add_working_days: impl Fn(NaiveDate, u32) -> Result<NaiveDate, String>,
) -> Result<NaiveDate, String> {
    add_working_days(submitted, catalog.time_frames.ivp_incoming)
}

/// The promise an open order is held to now: its date, or, while inbound calls by instant
/// virtual porting are promised (`ivp_by`) and the numbers are not registered yet (IVP
/// forwards calls from registration on), the earlier of the two.
pub fn promise_now(
    state: OrderState,
    promised_by: Option<NaiveDate>,
    ivp_by: Option<NaiveDate>,
) -> Option<NaiveDate> {
    let before_registration = matches!(
        state,
        OrderState::Submitted | OrderState::AwaitingDocuments | OrderState::AwaitingSignature
    );
    match (promised_by, ivp_by.filter(|_| before_registration)) {
        (Some(p), Some(i)) => Some(p.min(i)),
        (p, i) => p.or(i),
    }
}

/// An open order with a promise is overdue once its day has passed, and at risk when the
/// promise falls within one working day (`next_working_day`: the first working day after
/// `today` in the order's country).
pub fn attention(
    state: OrderState,
    promised_by: Option<NaiveDate>,
    today: NaiveDate,
    next_working_day: NaiveDate,
) -> Option<Attention> {
    let p = promised_by?;
    if !state.is_promised() {
        return None;
    }
    if p < today {
        Some(Attention::Overdue)
    } else if p <= next_working_day {
        Some(Attention::AtRisk)
    } else {
        None
    }
}

/// Why an order is on operations' lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Attention {
    Overdue,
    AtRisk,
}

impl Attention {
    pub fn as_str(&self) -> &'static str {
        match self {
            Attention::Overdue => "overdue",
            Attention::AtRisk => "at_risk",
        }
    }
}

/// Whether the service moves numbers the customer already has (porting, outbound only):
/// such orders list their numbers; new numbers come from stock at registration.
pub fn lists_numbers(s: Service) -> bool {
    matches!(s, Service::FullPorting | Service::OutboundOnly)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderState::*;

    #[test]
    fn the_happy_path_of_a_port_is_allowed() {
        let path = [
            (Draft, Submitted, Side::Partner),
            (Submitted, Registered, Side::Operations),
            (Registered, Scheduled, Side::Operations),
            (Scheduled, Scheduled, Side::Operations),
            (Scheduled, Completed, Side::Operations),
        ];
        for (f, t, s) in path {
            assert_eq!(check_transition(f, t, s), Ok(()), "{f} → {t}");
        }
    }

    #[test]
    fn final_states_never_change() {
        for f in [Completed, Rejected, Cancelled] {
            for t in OrderState::ALL {
                assert!(
                    check_transition(f, t, Side::Operations).is_err(),
                    "{f} → {t}"
                );
            }
        }
    }

    #[test]
    fn partners_cannot_do_what_operations_do() {
        for t in [Registered, Scheduled, Completed, Rejected] {
            let from = if t == Completed || t == Scheduled {
                Registered
            } else {
                Submitted
            };
            assert_eq!(
                check_transition(from, t, Side::Partner),
                Err(FlowError::OperationsOnly { to: t })
            );
            assert_eq!(check_transition(from, t, Side::Operations), Ok(()));
        }
    }

    #[test]
    fn a_partner_cancels_until_registration_operations_until_completion() {
        assert_eq!(
            check_transition(Submitted, Cancelled, Side::Partner),
            Ok(())
        );
        assert_eq!(check_transition(Quote, Cancelled, Side::Partner), Ok(()));
        assert!(check_transition(Registered, Cancelled, Side::Partner).is_err());
        assert_eq!(
            check_transition(Scheduled, Cancelled, Side::Operations),
            Ok(())
        );
    }

    #[test]
    fn a_quote_must_be_confirmed_before_anything_but_submission_or_cancel() {
        assert_eq!(check_transition(Quote, Draft, Side::Partner), Ok(()));
        assert!(check_transition(Quote, Registered, Side::Operations).is_err());
        assert!(check_transition(Draft, Rejected, Side::Operations).is_err());
    }

    #[test]
    fn states_read_back_from_their_names() {
        for s in OrderState::ALL {
            assert_eq!(s.as_str().parse::<OrderState>(), Ok(s));
        }
        assert!("done"
            .parse::<OrderState>()
            .unwrap_err()
            .contains("awaiting_stock"));
    }

    #[test]
    fn overdue_and_at_risk() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 12, day).unwrap();
        // Friday the 4th; the next working day is Monday the 7th.
        assert_eq!(
            attention(Submitted, Some(d(3)), d(4), d(7)),
            Some(Attention::Overdue)
        );
        assert_eq!(
            attention(Registered, Some(d(7)), d(4), d(7)),
            Some(Attention::AtRisk)
        );
        assert_eq!(
            attention(Registered, Some(d(4)), d(4), d(7)),
            Some(Attention::AtRisk)
        );
        assert_eq!(attention(Registered, Some(d(8)), d(4), d(7)), None);
        assert_eq!(attention(Completed, Some(d(1)), d(4), d(7)), None);
        assert_eq!(attention(Draft, Some(d(1)), d(4), d(7)), None);
        assert_eq!(attention(Submitted, None, d(4), d(7)), None);
    }

    #[test]
    fn missing_documents_come_before_the_signature() {
        assert_eq!(after_submit(true, true), Some(AwaitingDocuments));
        assert_eq!(after_submit(false, true), Some(AwaitingSignature));
        assert_eq!(after_submit(false, false), None);
    }
}
