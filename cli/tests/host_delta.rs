//! Issue 16 part 4 through `invsync host`: a player with a blueprint library (the `bp` sample)
//! who comes back to a server that still holds their older generation is sent a `player_delta`
//! (the host's `invsync_data_sent_total` counts it), plays with every item much sooner than the
//! full data allows, and the game uploads the data it was sent.

use invsync_harness::{Cluster, Options, WAIT};
use invsync_player_data::{PlayerData, SampleKind, generate};

macro_rules! check {
    ($c:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => panic!("{e:#}\n{}", $c.logs_tail(60)),
        }
    };
}

/// `invsync_data_sent_total{form="<form>"}` of a host's metrics (0 when never counted).
fn sent(metrics: &str, form: &str) -> u64 {
    let key = format!("invsync_data_sent_total{{form=\"{form}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_player_gets_a_delta_and_uploads_what_is_stored() {
    let o = Options::new(env!("CARGO_BIN_EXE_invsync"), "delta");
    let mut c = Cluster::start(o).await.expect("cluster");
    let mut bp = PlayerData::from_json(&generate(SampleKind::Bp, 1)).unwrap();
    bp.name = "ann".into();
    let players = vec!["ann".to_string()];
    check!(c, c.seed("ann", bp.to_json().into_bytes()).await);
    // north plays generation 1 and stores 2; south changes it and stores 3
    check!(c, c.join_and_play(0, "ann", WAIT).await);
    let full = check!(c, c.state(0, "ann").await)
        .sync_ticks()
        .expect("playing");
    check!(c, c.leave(0, "ann").await);
    check!(c, c.settle(&players, WAIT).await);
    check!(c, c.join_and_play(1, "ann", WAIT).await);
    check!(c, c.give(1, "ann", "iron-gear-wheel", 7, "normal").await);
    check!(c, c.take(1, "ann", "iron-gear-wheel", 2, "normal").await);
    check!(c, c.leave(1, "ann").await);
    check!(c, c.settle(&players, WAIT).await);
    let third = check!(c, c.export("ann", None).await);
    // north still holds generation 2, unchanged: it gets what changed since
    check!(c, c.join_and_play(0, "ann", WAIT).await);
    let returned = check!(c, c.state(0, "ann").await)
        .sync_ticks()
        .expect("playing");
    let held = check!(c, c.items(0, "ann").await);
    assert_eq!(held, c.ledger.expected("ann"), "{}", c.logs_tail(40));
    check!(c, c.leave(0, "ann").await);
    check!(c, c.settle(&players, WAIT).await);
    let head = check!(c, c.head("ann").await).expect("stored");
    assert_eq!(head.generation, 4, "the import and three uploads");
    let fourth = check!(c, c.export("ann", None).await);
    assert_eq!(
        PlayerData::from_json(&fourth).unwrap(),
        PlayerData::from_json(&third).unwrap(),
        "the game played and uploaded generation 3"
    );
    let north = check!(c, c.nodes[0].metrics_text().await);
    let south = check!(c, c.nodes[1].metrics_text().await);
    let logs = c.logs_tail(40);
    assert_eq!(
        (sent(&north, "full"), sent(&north, "delta")),
        (1, 1),
        "{logs}"
    );
    assert_eq!(
        (sent(&south, "full"), sent(&south, "delta")),
        (1, 0),
        "{logs}"
    );
    // game ticks from the join to the character in hand, as the module counts them
    assert!(
        returned * 4 < full,
        "back in {returned} ticks, the full data took {full}"
    );
    let audit = c.audit().await.expect("audit");
    assert!(audit.ok(), "{}\n{}", audit.describe(), c.logs_tail(40));
}
