//! Room leases on one database shared by several nodes.

use std::time::Duration;

use liveroom::room::lease::{self, Acquired};

use crate::helpers::*;

#[actix_web::test]
async fn a_lease_taken_over_gets_a_new_epoch_and_only_the_current_epoch_renews_or_releases_it() {
    let pool = liveroom::db::connect(&fresh_database().await, 2).await.unwrap();
    liveroom::db::migrate(&pool).await.unwrap();
    let short = Duration::from_millis(200);
    let Acquired::Held { epoch: first } = lease::acquire(&pool, "hall", "node-a", short).await.unwrap() else {
        panic!("a free lease is taken")
    };
    assert_eq!(
        lease::acquire(&pool, "hall", "node-b", short).await.unwrap(),
        Acquired::HeldElsewhere { owner: "node-a".into() }
    );
    tokio::time::sleep(short + Duration::from_millis(50)).await;
    let Acquired::Held { epoch: second } = lease::acquire(&pool, "hall", "node-b", short).await.unwrap() else {
        panic!("an expired lease is taken over")
    };
    assert!(second > first, "epochs increase: {first} then {second}");
    let renewed = lease::renew(&pool, &[("hall".into(), first)], Duration::from_secs(15)).await.unwrap();
    assert!(renewed.is_empty(), "the old owner finds its lease lost");
    let renewed = lease::renew(&pool, &[("hall".into(), second)], Duration::from_secs(15)).await.unwrap();
    assert_eq!(renewed, ["hall"]);
    lease::release(&pool, "hall", first).await.unwrap();
    assert_eq!(lease::current(&pool, "hall").await.unwrap().map(|l| l.owner), Some("node-b".into()));
    // the same node taking its room again (a restarted process) fences its old instance too
    let Acquired::Held { epoch: third } = lease::acquire(&pool, "hall", "node-b", short).await.unwrap() else {
        panic!("a node takes its own lease again")
    };
    assert!(third > second);
    lease::release(&pool, "hall", third).await.unwrap();
    assert_eq!(lease::current(&pool, "hall").await.unwrap(), None);
}
