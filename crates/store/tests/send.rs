//! Every public async operation of the store is `Send`, so that it can run
//! inside spawned tasks and boxed trait futures (the scheduler's runner).
//! This test fails to compile when one is not.

use efir_store::clients::NewClient;
use efir_store::users::NewUser;
use efir_store::{Actor, Store, Tx};

fn assert_send<T: Send>(_: &T) {}

#[allow(dead_code)]
async fn writes_are_send(store: Store, mut tx: Tx) {
    assert_send(&store.begin(Actor::System("x".into())));
    assert_send(&store.create_client(&mut tx, &NewClient::default()));
    assert_send(&store.create_user(&mut tx, &NewUser::default()));
    assert_send(&store.set_password(&mut tx, "a", "b"));
    assert_send(&store.set_meta(&mut tx, "a", "b"));
    assert_send(&tx.audit(None, "a", "b", None, serde_json::json!({})));
    assert_send(&tx.commit());
    assert_send(&store.bump_cache_epoch(Actor::System("x".into())));
}

#[allow(dead_code)]
async fn others_are_send(store: Store) {
    assert_send(&store.migrate());
    assert_send(&store.clients());
    assert_send(&store.audit_events(&Default::default()));
    assert_send(&store.backup(std::path::Path::new("x")));
    assert_send(&store.claim_schedule_slot("a", 1, "n"));
    assert_send(&store.try_lock_entry("a"));
}

#[test]
fn compiles() {}
