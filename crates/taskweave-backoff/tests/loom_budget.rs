//! Loom models of the retry budget: concurrent deposits and withdrawals neither lose nor invent
//! retries, and the balance never exceeds the capacity.
#![cfg(taskweave_loom)]

use loom::thread;
use taskweave_backoff::RetryBudget;

#[test]
fn racing_withdrawals_and_deposits_account_for_every_retry() {
    loom::model(|| {
        // One retry banked; one success earns another (ratio 1.0, room for two).
        let budget = RetryBudget::builder()
            .ratio(1.0)
            .capacity(2)
            .initial(1)
            .build()
            .unwrap();
        let a = budget.clone();
        let b = budget.clone();
        let first = thread::spawn(move || a.try_withdraw());
        let second = thread::spawn(move || {
            b.deposit();
            b.try_withdraw()
        });
        let spent = u32::from(first.join().unwrap()) + u32::from(second.join().unwrap());
        // Whatever the interleaving: what was spent plus what is left is what was earned.
        assert_eq!(spent + budget.available(), 2);
        assert_eq!(budget.denied(), u64::from(2 - spent));
    });
}

#[test]
fn racing_deposits_are_neither_lost_nor_overfill_the_bucket() {
    // From 1 of 3, both deposits land (3); from 2 of 3, the bucket stops at its capacity (3).
    for initial in [1, 2] {
        loom::model(move || {
            let budget = RetryBudget::builder()
                .ratio(1.0)
                .capacity(3)
                .initial(initial)
                .build()
                .unwrap();
            let a = budget.clone();
            let b = budget.clone();
            let first = thread::spawn(move || a.deposit());
            let second = thread::spawn(move || b.deposit());
            first.join().unwrap();
            second.join().unwrap();
            assert_eq!(budget.available(), 3);
        });
    }
}
