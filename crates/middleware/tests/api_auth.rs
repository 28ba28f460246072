//! Signature and client checks shared by the Billing and Content APIs.

mod common;

use common::{Server, BILLING_KEY};

#[tokio::test]
async fn wrong_signature_unknown_client_and_unknown_method() {
    for s in Server::both().await {
        // Wrong key: -2.
        let v = s
            .signed("billing", "not-the-key", "customer/list", &[])
            .await;
        assert_eq!(v["error"], -2, "{}: {v}", s.label());
        assert_eq!(v["error_message"], "invalid signature");
        // The content key does not sign billing calls.
        let v = s
            .signed("billing", common::CONTENT_KEY, "customer/list", &[])
            .await;
        assert_eq!(v["error"], -2);
        // Unknown or malformed client: -3.
        for client in ["999", "abc"] {
            let pairs = [("client_id", client), ("signature", "x")];
            let res = s
                .http
                .post(format!("{}/billing/api/customer/list/", s.base))
                .form(&pairs)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let v: serde_json::Value = res.json().await.unwrap();
            assert_eq!(v["error"], -3, "{v}");
        }
        let res = s
            .http
            .get(format!("{}/content/api/channel/list/", s.base))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["error"], -3, "missing client_id: {v}");
        // A correctly signed unknown method: -1 with a message.
        let v = s.billing("no/such/method", &[]).await;
        assert_eq!(v["error"], -1);
        assert!(v["error_message"]
            .as_str()
            .unwrap()
            .contains("no/such/method"));
        let _ = BILLING_KEY;
        s.stop().await;
    }
}
