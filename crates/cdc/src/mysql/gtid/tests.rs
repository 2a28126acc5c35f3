use super::*;

const UUID: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
const OTHER: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429563";

#[test]
fn a_mariadb_position_reads_and_writes_as_the_server_does() {
    let position = GtidState::parse(" 0-1-42,\n1-2-7 ", true).unwrap();
    assert_eq!(position.to_string(), "0-1-42,1-2-7");
    assert_eq!(GtidState::parse("", true).unwrap().to_string(), "");
    for bad in ["0-1", "0-1-x", "0-1-2-3", "-1-2", "0-1-2,0-2-3"] {
        assert!(GtidState::parse(bad, true).is_err(), "{bad}");
    }
    let twice = GtidState::parse("0-1-2,0-2-3", true).unwrap_err();
    assert!(twice.contains("domain 0 twice"), "{twice}");
    let wrong = GtidState::parse("0-1-x", true).unwrap_err();
    assert!(
        wrong.contains("'0-1-x'") && wrong.contains("domain-server-seq"),
        "{wrong}"
    );
}

#[test]
fn a_mariadb_gtid_moves_its_domain_only() {
    let mut position = GtidState::parse("0-1-42,1-2-7", true).unwrap();
    position.add(&Gtid::Mariadb {
        domain: 0,
        server: 3,
        seq: 43,
    });
    position.add(&Gtid::Mariadb {
        domain: 5,
        server: 1,
        seq: 1,
    });
    assert_eq!(position.to_string(), "0-3-43,1-2-7,5-1-1");
    position.add(&Gtid::mysql([0; 16], None, 9));
    assert_eq!(position.to_string(), "0-3-43,1-2-7,5-1-1");
}

#[test]
fn a_mariadb_gtid_event_gives_domain_server_seq() {
    let mut data = 42u64.to_le_bytes().to_vec();
    data.extend(3u32.to_le_bytes());
    data.push(FL_STANDALONE | 0x20);
    data.extend([0; 6]);
    let (gtid, standalone) = Gtid::from_mariadb_event(7, &data).unwrap();
    assert_eq!(gtid.to_string(), "3-7-42");
    assert!(standalone);
    data[12] = 0x0C;
    assert!(!Gtid::from_mariadb_event(7, &data).unwrap().1);
    assert_eq!(Gtid::from_mariadb_event(7, &data[..12]), None);
}

#[test]
fn a_mysql_set_reads_merges_and_writes_as_the_server_does() {
    let text = format!("{}:1-5:7,\n{OTHER}:1-3", UUID.to_uppercase());
    let mut set = GtidState::parse(&text, false).unwrap();
    assert_eq!(set.to_string(), format!("{UUID}:1-5:7,{OTHER}:1-3"));
    let uuid: [u8; 16] = [
        0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95,
        0x62,
    ];
    let gtid = Gtid::mysql(uuid, None, 6);
    assert_eq!(gtid.to_string(), format!("{UUID}:6"));
    set.add(&gtid);
    set.add(&Gtid::mysql(uuid, None, 10));
    assert_eq!(set.to_string(), format!("{UUID}:1-7:10,{OTHER}:1-3"));
    assert_eq!(GtidState::parse("", false).unwrap().to_string(), "");
}

#[test]
fn a_tagged_mysql_set_keeps_its_tags_apart() {
    let set = GtidState::parse(&format!("{UUID}:1-5:blue:1-3:9"), false).unwrap();
    assert_eq!(set.to_string(), format!("{UUID}:1-5,{UUID}:blue:1-3:9"));
    assert_eq!(
        Gtid::mysql([0xab; 16], Some("blue"), 4).to_string(),
        "abababab-abab-abab-abab-abababababab:blue:4"
    );
}

#[test]
fn a_bad_mysql_set_is_refused_with_the_part_at_fault() {
    for (bad, part) in [
        ("nonsense:1-5", "server UUID"),
        (&*format!("{UUID}:0"), "'0'"),
        (&*format!("{UUID}:5-3"), "'5-3'"),
        (&*format!("{UUID}:1-x"), "'1-x'"),
    ] {
        let error = GtidState::parse(bad, false).unwrap_err();
        assert!(error.contains(part), "{bad}: {error}");
    }
}

#[test]
fn a_mysql_set_becomes_the_dump_request_sids() {
    let set = GtidState::parse(&format!("{UUID}:1-5:7,{OTHER}:1-3"), false).unwrap();
    let sids = set.sids().unwrap();
    assert_eq!(sids.len(), 2);
    let ranges: Vec<(u64, u64)> = sids[0]
        .intervals()
        .iter()
        .map(|i| (i.start(), i.end()))
        .collect();
    assert_eq!(
        ranges,
        [(1, 6), (7, 8)],
        "the end of a sid's interval is exclusive"
    );
    assert_eq!(sids[1].uuid()[15], 0x63);
    assert!(
        GtidState::parse("0-1-2", true)
            .unwrap()
            .sids()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_previous_gtids_event_gives_the_set_before_its_file() {
    use mysql_async::GnoInterval;
    use mysql_async::binlog::events::PreviousGtidsSid;
    let uuid = [0xab; 16];
    let event = PreviousGtidsEvent::new(vec![PreviousGtidsSid::new(
        uuid,
        None,
        vec![GnoInterval::new(1, 6), GnoInterval::new(7, 8)],
    )]);
    assert_eq!(
        GtidState::from_previous_gtids(&event).to_string(),
        "abababab-abab-abab-abab-abababababab:1-5:7"
    );
}
