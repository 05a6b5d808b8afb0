//! Scenario: a server and two real client agents. A forged client on the rpc port tries to pass
//! for one of them: a heartbeat without a secret, with a wrong secret, or with its own valid
//! secret but another node's id; a re-registration of a real node's id under a new secret; and,
//! as a properly registered node of its own, a status update of an allocation that runs
//! elsewhere. Every attempt is refused with "permission denied", and no node's answer in the
//! HTTP API carries a secret.

use agent::rpc::{ClientCall, ClientReply, NodeAuth, RpcClient, RpcError, RpcRequest, RpcResponse};
use e2e::cluster::{job_json, Cluster};
use e2e::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn call(
    rpc: &RpcClient,
    addr: &str,
    call: ClientCall,
    auth: Option<NodeAuth>,
) -> Result<ClientReply, RpcError> {
    let req = RpcRequest::Client {
        call,
        hops: 0,
        auth,
    };
    match rpc.call(addr, req, Duration::from_secs(30)).await {
        Ok(RpcResponse::Client(reply)) => reply,
        other => panic!("unexpected answer: {other:?}"),
    }
}

fn auth(node_id: &str, secret: &str) -> Option<NodeAuth> {
    Some(NodeAuth {
        node_id: node_id.into(),
        secret: secret.into(),
    })
}

fn assert_denied(result: Result<ClientReply, RpcError>, expect: &str) {
    match result {
        Err(RpcError::Forbidden(m)) => assert!(m.contains(expect), "{m}"),
        other => panic!("expected permission denied ({expect}), got {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn one_node_can_never_act_for_another() {
    let mut cluster = Cluster::start(1, "").unwrap();
    let leader = cluster.wait_leader(WAIT).unwrap();
    cluster.add_client("victim").unwrap();
    let reply = cluster
        .http(leader, "POST", "/v1/jobs", Some(&job_json("identity")))
        .unwrap();
    assert!(reply.is_success(), "{reply:?}");
    let alloc = wait_for("the job to run on the victim", WAIT, || {
        let allocs = cluster
            .http(leader, "GET", "/v1/job/identity/allocations", None)
            .ok()?
            .json()
            .ok()?;
        allocs.as_array()?.iter().find_map(|a| {
            (a["ClientStatus"] == "running").then(|| {
                (
                    a["ID"].as_str().unwrap_or("").to_string(),
                    a["NodeID"].as_str().unwrap_or("").to_string(),
                )
            })
        })
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.report()));
    let (alloc_id, victim) = alloc;

    let rpc = RpcClient::new();
    let addr = cluster.rpc_address(leader);
    let heartbeat = || ClientCall::NodeHeartbeat {
        node_id: victim.clone(),
    };
    assert_denied(
        call(&rpc, &addr, heartbeat(), None).await,
        "carries no node secret",
    );
    assert_denied(
        call(
            &rpc,
            &addr,
            heartbeat(),
            auth(&victim, "0123456789abcdef-guess"),
        )
        .await,
        "wrong secret",
    );
    let allocs = ClientCall::NodeAllocations {
        node_id: victim.clone(),
        min_index: 0,
        wait_ms: 0,
        known: Default::default(),
    };
    assert_denied(
        call(&rpc, &addr, allocs, auth(&victim, "0123456789abcdef-guess")).await,
        "wrong secret",
    );

    // Re-registering the victim's id under another secret.
    let nodes = cluster
        .http(leader, "GET", "/v1/nodes", None)
        .unwrap()
        .json()
        .unwrap();
    let stub = nodes.as_array().unwrap()[0].clone();
    let mut node = api::Node {
        id: victim.clone(),
        name: "impostor".into(),
        datacenter: stub["Datacenter"].as_str().unwrap_or("dc1").into(),
        secret_id: "impostor-secret-impostor-secret".into(),
        ..Default::default()
    };
    assert_denied(
        call(
            &rpc,
            &addr,
            ClientCall::NodeRegister(Box::new(node.clone())),
            None,
        )
        .await,
        "registered with another secret",
    );

    // A node of our own: proven for itself, and for nothing else.
    node.id = "forged-node-0000-0000-000000000000".into();
    node.name = "forged".into();
    let mine = auth(&node.id, &node.secret_id);
    call(
        &rpc,
        &addr,
        ClientCall::NodeRegister(Box::new(node.clone())),
        None,
    )
    .await
    .expect("registering a new node of our own");
    call(
        &rpc,
        &addr,
        ClientCall::NodeHeartbeat {
            node_id: node.id.clone(),
        },
        mine.clone(),
    )
    .await
    .expect("our own heartbeat");
    assert_denied(
        call(&rpc, &addr, heartbeat(), mine.clone()).await,
        "may not act for",
    );
    let update = ClientCall::UpdateAllocs(vec![api::AllocClientUpdate {
        id: alloc_id.clone(),
        client_status: "failed".into(),
        ..Default::default()
    }]);
    assert_denied(
        call(&rpc, &addr, update, mine).await,
        "runs on another node",
    );

    // The allocation is untouched, and no answer shows a secret.
    let alloc = cluster
        .http(leader, "GET", &format!("/v1/allocation/{alloc_id}"), None)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(alloc["ClientStatus"], "running");
    let node = cluster
        .http(leader, "GET", &format!("/v1/node/{victim}"), None)
        .unwrap();
    assert!(!node.body.contains("SecretID"), "{}", node.body);
}
