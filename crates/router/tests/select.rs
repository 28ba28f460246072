//! Edge selection: rendezvous hashing, candidate filtering, region fallback
//! and the reasons given when nothing can serve.

use std::collections::{HashMap, HashSet};

use efir_router::select::{
    choose, score, Choice, ContentKind, Edge, EdgeId, EdgeState, NoEdge, RegionId, Request,
    Snapshot,
};
use rand::{Rng, SeedableRng};

const ALL: [ContentKind; 3] = [ContentKind::Live, ContentKind::Catchup, ContentKind::Vod];

fn edge(id: EdgeId, region: RegionId, weight: u32) -> Edge {
    Edge {
        id,
        name: format!("edge-{id}"),
        region,
        base_url: format!("https://edge-{id}.example.net"),
        weight,
        capacity: None,
        capacity_mbps: None,
        enabled: true,
        draining: false,
        serves: ALL.to_vec(),
        channels: Vec::new(),
    }
}

fn snap(edges: Vec<Edge>) -> Snapshot {
    Snapshot::new(edges, HashMap::new(), Vec::new())
}

fn live(ch: &str) -> Request<'_> {
    Request {
        kind: ContentKind::Live,
        key: ch,
        channel: Some(ch),
    }
}

fn vod(path: &str) -> Request<'_> {
    Request {
        kind: ContentKind::Vod,
        key: path,
        channel: None,
    }
}

fn up(_: EdgeId) -> EdgeState {
    EdgeState::UNKNOWN
}

/// A state function: the listed edges are down, the others healthy.
fn down(ids: &[EdgeId]) -> impl Fn(EdgeId) -> EdgeState + '_ {
    move |id| EdgeState {
        healthy: !ids.contains(&id),
        load: 0,
        mbps: 0,
    }
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("channel-{i}")).collect()
}

/// The id of the chosen edge, panicking on `NoEdge`.
fn pick(
    s: &Snapshot,
    region: Option<RegionId>,
    req: &Request<'_>,
    st: &dyn Fn(EdgeId) -> EdgeState,
) -> EdgeId {
    match choose(s, region, req, st) {
        Choice::Edge { edge, .. } => edge.id,
        Choice::NoEdge(why) => panic!("no edge for {req:?}: {why}"),
    }
}

fn assign(s: &Snapshot, keys: &[String], st: &dyn Fn(EdgeId) -> EdgeState) -> Vec<EdgeId> {
    keys.iter()
        .map(|k| pick(s, Some(1), &live(k), st))
        .collect()
}

fn no_edge(s: &Snapshot, region: Option<RegionId>, req: &Request<'_>) -> NoEdge {
    no_edge_with(s, region, req, &up)
}

fn no_edge_with(
    s: &Snapshot,
    region: Option<RegionId>,
    req: &Request<'_>,
    st: &dyn Fn(EdgeId) -> EdgeState,
) -> NoEdge {
    match choose(s, region, req, st) {
        Choice::NoEdge(why) => why,
        other => panic!("expected NoEdge, got {other:?}"),
    }
}

#[test]
fn same_key_same_edge() {
    let s = snap((1..=7).map(|id| edge(id, 1, id * 10)).collect());
    let s2 = s.clone();
    for k in keys(500) {
        let a = pick(&s, Some(1), &live(&k), &up);
        for _ in 0..3 {
            assert_eq!(pick(&s, Some(1), &live(&k), &up), a);
            assert_eq!(pick(&s2, Some(1), &live(&k), &up), a);
        }
    }
    // Independent of the order edges are listed in.
    let rev = snap((1..=7).rev().map(|id| edge(id, 1, id * 10)).collect());
    for k in keys(500) {
        assert_eq!(
            pick(&s, Some(1), &live(&k), &up),
            pick(&rev, Some(1), &live(&k), &up)
        );
    }
}

#[test]
fn keys_spread_by_weight() {
    let s = snap(vec![edge(1, 1, 1), edge(2, 1, 2), edge(3, 1, 3)]);
    let keys = keys(10_000);
    let got = assign(&s, &keys, &up);
    for (id, want) in [(1, 1.0 / 6.0), (2, 2.0 / 6.0), (3, 3.0 / 6.0)] {
        let share = got.iter().filter(|&&e| e == id).count() as f64 / keys.len() as f64;
        println!("edge {id}: share {share:.4}, expected {want:.4}");
        assert!((share - want).abs() <= 0.03, "edge {id}: {share} vs {want}");
    }
}

#[test]
fn removing_an_edge_moves_only_its_keys() {
    let s = snap((1..=5).map(|id| edge(id, 1, 100)).collect());
    let keys = keys(10_000);
    let before = assign(&s, &keys, &up);
    let gone = 3;
    let after = assign(&s, &keys, &down(&[gone]));
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if *b == gone {
            assert_ne!(*a, gone);
            moved += 1;
        } else {
            assert_eq!(a, b, "a key not on the removed edge moved");
        }
    }
    let fraction = moved as f64 / keys.len() as f64;
    println!("moved fraction when removing 1 of 5 equal edges: {fraction:.4} ({moved} keys)");
    assert!((fraction - 0.2).abs() <= 0.03, "{fraction}");
    // Its keys spread over the remaining edges.
    let targets: HashSet<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, _)| **b == gone)
        .map(|(_, a)| *a)
        .collect();
    assert_eq!(targets.len(), 4);
}

#[test]
fn adding_an_edge_moves_keys_only_to_it() {
    let keys = keys(10_000);
    let old = snap((1..=4).map(|id| edge(id, 1, 100)).collect());
    let new = snap((1..=5).map(|id| edge(id, 1, 100)).collect());
    let before = assign(&old, &keys, &up);
    let after = assign(&new, &keys, &up);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if a != b {
            assert_eq!(*a, 5, "a key moved to an old edge");
            moved += 1;
        }
    }
    let fraction = moved as f64 / keys.len() as f64;
    assert!((fraction - 0.2).abs() <= 0.03, "{fraction}");
}

#[test]
fn draining_and_disabled_edges_receive_nothing() {
    let mut drain = edge(2, 1, 100);
    drain.draining = true;
    let mut off = edge(3, 1, 100);
    off.enabled = false;
    let s = snap(vec![edge(1, 1, 100), drain, off, edge(4, 1, 100)]);
    let got = assign(&s, &keys(5_000), &up);
    assert!(got.iter().all(|&e| e == 1 || e == 4));
    assert!(got.contains(&1) && got.contains(&4));
    // Disabled edges are still known to the snapshot.
    assert_eq!(s.edge(3).map(|e| e.enabled), Some(false));
    assert_eq!(s.edges().len(), 4);
}

#[test]
fn full_edges_receive_nothing_and_keys_go_to_next_best() {
    let mut full = edge(2, 1, 100);
    full.capacity = Some(10);
    let mut roomy = edge(3, 1, 100);
    roomy.capacity = Some(10);
    let s = snap(vec![edge(1, 1, 100), full, roomy, edge(4, 1, 50)]);
    let load = |id: EdgeId| EdgeState {
        healthy: true,
        load: match id {
            2 => 10,
            3 => 9,
            _ => 1_000_000,
        },
        mbps: 0,
    };
    let keys = keys(5_000);
    let before = assign(&s, &keys, &up);
    let after = assign(&s, &keys, &load);
    assert!(before.contains(&2));
    for ((k, b), a) in keys.iter().zip(&before).zip(&after) {
        assert_ne!(*a, 2);
        if *b == 2 {
            // The next-best edge by score among the others.
            let next = [(1, 100), (3, 100), (4, 50)]
                .into_iter()
                .max_by(|x, y| score(k, x.0, x.1).total_cmp(&score(k, y.0, y.1)))
                .unwrap()
                .0;
            assert_eq!(*a, next);
        } else {
            assert_eq!(a, b);
        }
    }
    // Over capacity, and a zero capacity, count as full too.
    let over = |id: EdgeId| EdgeState {
        healthy: true,
        load: if id == 2 { 11 } else { 0 },
        mbps: 0,
    };
    assert!(!assign(&s, &keys, &over).contains(&2));
    let mut zero = edge(1, 1, 1);
    zero.capacity = Some(0);
    let s = snap(vec![zero]);
    assert_eq!(no_edge(&s, Some(1), &live("a")), NoEdge::AllFull);
}

#[test]
fn content_kind_filtering() {
    let mut vod_only = edge(1, 1, 1000);
    vod_only.serves = vec![ContentKind::Vod];
    let mut tv = edge(2, 1, 1);
    tv.serves = vec![ContentKind::Live, ContentKind::Catchup];
    let mut nothing = edge(3, 1, 1000);
    nothing.serves = Vec::new();
    let s = snap(vec![vod_only, tv, nothing]);
    for k in keys(2_000) {
        assert_eq!(pick(&s, Some(1), &live(&k), &up), 2);
        let catchup = Request {
            kind: ContentKind::Catchup,
            key: &k,
            channel: Some("ch1"),
        };
        assert_eq!(pick(&s, Some(1), &catchup, &up), 2);
        assert_eq!(pick(&s, Some(1), &vod(&k), &up), 1);
    }
}

#[test]
fn channel_lists() {
    let mut some = edge(1, 1, 1000);
    some.channels = vec!["news".into(), "sport".into()];
    let s = snap(vec![some, edge(2, 1, 1)]);
    // Channels not listed never reach the restricted edge.
    for k in keys(1_000) {
        assert_eq!(pick(&s, Some(1), &live(&k), &up), 2);
    }
    // Listed channels can go to either; the heavy one takes most.
    let mut hits = 0;
    for i in 0..1_000 {
        let key = format!("sport-programme-{i}");
        let req = Request {
            kind: ContentKind::Catchup,
            key: &key,
            channel: Some("sport"),
        };
        if pick(&s, Some(1), &req, &up) == 1 {
            hits += 1;
        }
    }
    assert!(hits > 900, "{hits}");
    // Without a channel, only edges carrying all channels qualify.
    let req = Request {
        kind: ContentKind::Live,
        key: "news",
        channel: None,
    };
    assert_eq!(pick(&s, Some(1), &req, &down(&[])), 2);
    // With only restricted edges, an unlisted channel has nowhere to go.
    let mut only = edge(1, 1, 1);
    only.channels = vec!["news".into()];
    let s = snap(vec![only]);
    assert_eq!(pick(&s, Some(1), &live("news"), &up), 1);
    assert_eq!(no_edge(&s, Some(1), &live("sport")), NoEdge::NoneCarries);
}

#[test]
fn falls_back_to_the_next_region() {
    let edges = vec![edge(1, 1, 1), edge(2, 2, 1), edge(3, 3, 1)];
    let fallback = HashMap::from([(1, vec![2, 3])]);
    let s = Snapshot::new(edges, fallback, Vec::new());
    match choose(&s, Some(1), &live("a"), &up) {
        Choice::Edge {
            edge,
            region,
            fell_back,
        } => assert_eq!((edge.id, region, fell_back), (1, 1, false)),
        other => panic!("{other:?}"),
    }
    match choose(&s, Some(1), &live("a"), &down(&[1])) {
        Choice::Edge {
            edge,
            region,
            fell_back,
        } => assert_eq!((edge.id, region, fell_back), (2, 2, true)),
        other => panic!("{other:?}"),
    }
    match choose(&s, Some(1), &live("a"), &down(&[1, 2])) {
        Choice::Edge {
            edge,
            region,
            fell_back,
        } => assert_eq!((edge.id, region, fell_back), (3, 3, true)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        no_edge_with(&s, Some(1), &live("a"), &down(&[1, 2, 3])),
        NoEdge::AllDown
    );
}

#[test]
fn fallbacks_are_followed_transitively() {
    // 1 → 2 → 3: region 3 is reached through region 2's fallbacks.
    let edges = vec![edge(1, 1, 1), edge(3, 3, 1)];
    let fallback = HashMap::from([(1, vec![2]), (2, vec![3])]);
    let s = Snapshot::new(edges, fallback, Vec::new());
    assert_eq!(pick(&s, Some(1), &live("a"), &down(&[1])), 3);
}

#[test]
fn region_without_edges_falls_back() {
    let edges = vec![edge(2, 2, 1)];
    let fallback = HashMap::from([(1, vec![2])]);
    let s = Snapshot::new(edges, fallback, Vec::new());
    match choose(&s, Some(1), &vod("film.mp4"), &up) {
        Choice::Edge {
            edge, fell_back, ..
        } => assert_eq!((edge.id, fell_back), (2, true)),
        other => panic!("{other:?}"),
    }
    // A region nobody configured falls back to the defaults.
    let s = Snapshot::new(vec![edge(2, 2, 1)], HashMap::new(), vec![2]);
    assert_eq!(pick(&s, Some(42), &live("a"), &up), 2);
}

#[test]
fn fallback_cycles_terminate_and_default_comes_last() {
    let edges = vec![edge(1, 1, 1), edge(2, 2, 1), edge(3, 3, 1), edge(9, 9, 1)];
    let fallback = HashMap::from([(1, vec![2, 1]), (2, vec![1, 2]), (3, vec![3])]);
    let s = Snapshot::new(edges.clone(), fallback.clone(), vec![9, 1]);
    assert_eq!(s.fallback_order(Some(1)).collect::<Vec<_>>(), vec![1, 2, 9]);
    assert_eq!(pick(&s, Some(1), &live("a"), &down(&[1])), 2);
    match choose(&s, Some(1), &live("a"), &down(&[1, 2])) {
        Choice::Edge {
            edge,
            region,
            fell_back,
        } => assert_eq!((edge.id, region, fell_back), (9, 9, true)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        no_edge_with(&s, Some(1), &live("a"), &down(&[1, 2, 9])),
        NoEdge::AllDown
    );
    // The default list is tried only after the configured fallbacks, even
    // when a default region is healthy.
    assert_eq!(pick(&s, Some(1), &live("a"), &down(&[1])), 2);
    // A cycle without a default terminates with NoEdge.
    let s = Snapshot::new(edges, fallback, Vec::new());
    assert_eq!(
        no_edge_with(&s, Some(1), &live("a"), &down(&[1, 2])),
        NoEdge::AllDown
    );
    assert_eq!(
        no_edge_with(&s, Some(3), &live("a"), &down(&[3])),
        NoEdge::AllDown
    );
}

#[test]
fn unknown_region_uses_default_fallback_else_no_region() {
    let s = Snapshot::new(
        vec![edge(1, 1, 1), edge(2, 2, 1)],
        HashMap::new(),
        vec![2, 1],
    );
    match choose(&s, None, &live("a"), &up) {
        Choice::Edge {
            edge,
            region,
            fell_back,
        } => assert_eq!((edge.id, region, fell_back), (2, 2, true)),
        other => panic!("{other:?}"),
    }
    assert_eq!(pick(&s, None, &live("a"), &down(&[2])), 1);
    let s = snap(vec![edge(1, 1, 1)]);
    assert_eq!(no_edge(&s, None, &live("a")), NoEdge::NoRegion);
}

#[test]
fn each_no_edge_reason() {
    // NoRegion: no client region and no default fallback.
    let s = snap(vec![edge(1, 1, 1)]);
    assert_eq!(no_edge(&s, None, &live("a")), NoEdge::NoRegion);

    // NoEdgesInRegions: the region (and its fallbacks) have no enabled edge.
    assert_eq!(no_edge(&s, Some(7), &live("a")), NoEdge::NoEdgesInRegions);
    let mut off = edge(2, 2, 1);
    off.enabled = false;
    let s2 = Snapshot::new(vec![off], HashMap::from([(2, vec![3])]), vec![4]);
    assert_eq!(no_edge(&s2, Some(2), &live("a")), NoEdge::NoEdgesInRegions);

    // AllDown.
    assert_eq!(
        no_edge_with(&s, Some(1), &live("a"), &down(&[1])),
        NoEdge::AllDown
    );

    // AllDraining.
    let mut d = edge(1, 1, 1);
    d.draining = true;
    assert_eq!(
        no_edge(&snap(vec![d]), Some(1), &live("a")),
        NoEdge::AllDraining
    );

    // AllFull.
    let mut f = edge(1, 1, 1);
    f.capacity = Some(5);
    let busy = |_| EdgeState {
        healthy: true,
        load: 5,
        mbps: 0,
    };
    assert_eq!(
        no_edge_with(&snap(vec![f]), Some(1), &live("a"), &busy),
        NoEdge::AllFull
    );

    // NoneCarries: wrong kind, and channel not listed.
    let mut v = edge(1, 1, 1);
    v.serves = vec![ContentKind::Vod];
    let mut c = edge(2, 1, 1);
    c.channels = vec!["b".into()];
    assert_eq!(
        no_edge(&snap(vec![v, c]), Some(1), &live("a")),
        NoEdge::NoneCarries
    );
}

#[test]
fn no_edge_precedence() {
    // NoneCarries < AllDraining < AllFull < AllDown, across all tried regions.
    let mut wrong = edge(1, 1, 1);
    wrong.serves = vec![ContentKind::Vod];
    let mut drain = edge(2, 1, 1);
    drain.draining = true;
    let mut full = edge(3, 2, 1);
    full.capacity = Some(1);
    let sick = edge(4, 3, 1);
    let st = |id: EdgeId| EdgeState {
        healthy: id != 4,
        load: 1,
        mbps: 0,
    };
    let fallback = HashMap::from([(1, vec![2]), (2, vec![3])]);
    let s = Snapshot::new(
        vec![wrong.clone(), drain.clone(), full.clone(), sick.clone()],
        fallback.clone(),
        Vec::new(),
    );
    assert_eq!(no_edge_with(&s, Some(1), &live("x"), &st), NoEdge::AllDown);
    // Order of regions does not matter: start from the region of the down edge.
    let rev = HashMap::from([(3, vec![2]), (2, vec![1])]);
    let s = Snapshot::new(
        vec![wrong.clone(), drain.clone(), full.clone(), sick],
        rev,
        Vec::new(),
    );
    assert_eq!(no_edge_with(&s, Some(3), &live("x"), &st), NoEdge::AllDown);
    let s = Snapshot::new(
        vec![wrong.clone(), drain.clone(), full],
        fallback.clone(),
        Vec::new(),
    );
    assert_eq!(no_edge_with(&s, Some(1), &live("x"), &st), NoEdge::AllFull);
    let s = Snapshot::new(vec![wrong.clone(), drain.clone()], fallback, Vec::new());
    assert_eq!(
        no_edge_with(&s, Some(1), &live("x"), &st),
        NoEdge::AllDraining
    );
    // An edge that is both draining and down counts as down.
    let mut both = drain;
    both.id = 4;
    let s = snap(vec![wrong, both]);
    assert_eq!(no_edge_with(&s, Some(1), &live("x"), &st), NoEdge::AllDown);
}

#[test]
fn no_edge_messages_are_sentences() {
    for why in [
        NoEdge::NoRegion,
        NoEdge::NoEdgesInRegions,
        NoEdge::AllDown,
        NoEdge::AllDraining,
        NoEdge::AllFull,
        NoEdge::NoneCarries,
    ] {
        let text = why.to_string();
        println!("{why:?}: {text}");
        assert!(text.contains(' ') && text.len() > 20);
    }
}

#[test]
fn weight_zero_counts_as_one() {
    let s = snap(vec![edge(1, 1, 0), edge(2, 1, 1)]);
    let keys = keys(10_000);
    let got = assign(&s, &keys, &up);
    let share = got.iter().filter(|&&e| e == 1).count() as f64 / keys.len() as f64;
    assert!((share - 0.5).abs() <= 0.03, "{share}");
    for k in &keys[..100] {
        assert_eq!(score(k, 1, 0), score(k, 1, 1));
    }
}

#[test]
fn score_is_positive_and_finite() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let big: String = (0..10 * 1024)
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect();
    let mut inputs = vec![String::new(), big, "x".repeat(10_240), "é".repeat(5_000)];
    inputs.extend((0..2_000).map(|_| {
        let len = rng.random_range(0..64);
        (0..len).map(|_| rng.random::<char>()).collect::<String>()
    }));
    for key in &inputs {
        for edge in [0, 1, 2, 1_000, u32::MAX - 1, u32::MAX] {
            for weight in [0, 1, 2, 500, 1_000, u32::MAX] {
                let s = score(key, edge, weight);
                assert!(s.is_finite() && s > 0.0, "{s} for {edge}/{weight}");
            }
        }
    }
    // Deterministic and weight-monotonic.
    assert_eq!(score("k", 3, 10), score("k", 3, 10));
    assert!(score("k", 3, 20) > score("k", 3, 10));
    // Empty and huge keys route too.
    let s = snap(vec![edge(1, 1, 1), edge(2, 1, 1)]);
    for key in &inputs[..4] {
        pick(&s, Some(1), &vod(key), &up);
    }
}

#[test]
fn state_page_helpers() {
    let s = snap(vec![edge(5, 1, 1), edge(6, 2, 1)]);
    assert_eq!(s.edge(6).map(|e| e.region), Some(2));
    assert!(s.edge(7).is_none());
    assert_eq!(EdgeState::default(), EdgeState::UNKNOWN);
    assert_eq!(
        serde_json::to_string(&ContentKind::Catchup).unwrap(),
        "\"catchup\""
    );
    let c = choose(&s, Some(1), &live("a"), &up);
    assert_eq!(c.to_string(), "edge 5 (edge-5) in region 1");
}

#[test]
fn bandwidth_capacity() {
    // An edge reporting its Mbit/s at or over its bandwidth capacity is full.
    let mut fast = edge(1, 1, 100);
    fast.capacity_mbps = Some(1000);
    let other = edge(2, 1, 1);
    let s = snap(vec![fast.clone(), other]);
    let busy = |id: EdgeId| EdgeState {
        mbps: if id == 1 { 1000 } else { 0 },
        ..EdgeState::UNKNOWN
    };
    let calm = |id: EdgeId| EdgeState {
        mbps: if id == 1 { 999 } else { 0 },
        ..EdgeState::UNKNOWN
    };
    let keys = keys(500);
    assert!(!assign(&s, &keys, &busy).contains(&1));
    assert!(assign(&s, &keys, &calm).contains(&1));
    assert_eq!(
        no_edge_with(&snap(vec![fast]), Some(1), &live("a"), &busy),
        NoEdge::AllFull
    );
}
