//! The promise an open order is held to: its date, or the earlier IVP date while the numbers
//! are not registered; and the attention that follows.

use chrono::NaiveDate;
use didhub_core::order_flow::{attention, promise_now, Attention, OrderState};
use proptest::prelude::*;

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(n)
}

const BEFORE: [OrderState; 3] = [
    OrderState::Submitted,
    OrderState::AwaitingDocuments,
    OrderState::AwaitingSignature,
];
const AFTER: [OrderState; 4] = [
    OrderState::Registered,
    OrderState::Scheduled,
    OrderState::Completed,
    OrderState::Cancelled,
];

proptest! {
    #[test]
    fn before_registration_the_earlier_promise_holds(p in 0i64..400, i in 0i64..400, s in 0usize..3) {
        let got = promise_now(BEFORE[s], Some(day(p)), Some(day(i)));
        prop_assert_eq!(got, Some(day(p.min(i))));
        prop_assert_eq!(promise_now(BEFORE[s], None, Some(day(i))), Some(day(i)));
    }

    #[test]
    fn once_registered_only_the_order_date_holds(p in 0i64..400, i in 0i64..400, s in 0usize..4) {
        prop_assert_eq!(promise_now(AFTER[s], Some(day(p)), Some(day(i))), Some(day(p)));
        prop_assert_eq!(promise_now(AFTER[s], None, Some(day(i))), None);
    }
}

#[test]
fn a_missed_ivp_date_makes_an_unregistered_order_overdue() {
    let (today, next) = (day(10), day(11));
    let p = promise_now(OrderState::Submitted, Some(day(30)), Some(day(9)));
    assert_eq!(
        attention(OrderState::Submitted, p, today, next),
        Some(Attention::Overdue)
    );
    let p = promise_now(OrderState::Registered, Some(day(30)), Some(day(9)));
    assert_eq!(attention(OrderState::Registered, p, today, next), None);
    let p = promise_now(OrderState::Submitted, Some(day(30)), Some(day(11)));
    assert_eq!(
        attention(OrderState::Submitted, p, today, next),
        Some(Attention::AtRisk)
    );
}
