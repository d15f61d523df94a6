//! The messages report: known traffic (every source, type, status and channel, over several
//! days, in a time zone far from UTC) checked number by number against counts made here, the
//! presets' midnight boundaries, filters that do not apply, and workspace isolation.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use entity::{DeliveryStatus, MessageDirection, MessageSource, MessageType, message};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};

use crate::broadcasts::provider_channel;
use crate::helpers::{TestApp, error_code};

const ZONE: &str = "Asia/Kathmandu"; // UTC+05:45

const REPORT: &str = "query($range: ReportRangeInput!, $filter: MessagesReportFilterInput) { messagesReport(range: $range, filter: $filter) {
    from to timeZone days
    incoming { ...S } outgoingByChannel { ...S } outgoingBySource { ...S } outgoingByType { ...S } outgoingBySubtype { ...S } delivery { ...S } } }
  fragment S on ReportSection { applicable notice total series groups { key label count percent series } }";

/// One generated message, as the test knows it.
#[derive(Debug, Clone)]
struct Known {
    incoming: bool,
    channel: i64,
    contact: i64,
    source: MessageSource,
    kind: MessageType,
    subtype: Option<String>,
    status: DeliveryStatus,
    /// When it arrived, went out, or failed; None for queued or sending.
    at: Option<DateTime<Utc>>,
    user: Option<i64>,
}

async fn insert(app: &TestApp, workspace: i64, m: &Known) {
    let at = m.at.unwrap_or_else(Utc::now);
    let sent = matches!(m.status, DeliveryStatus::Sent | DeliveryStatus::Delivered | DeliveryStatus::Read);
    message::ActiveModel {
        workspace_id: Set(workspace),
        contact_id: Set(Some(m.contact)),
        channel_id: Set(Some(m.channel)),
        direction: Set(if m.incoming { MessageDirection::Incoming } else { MessageDirection::Outgoing }),
        source: Set((!m.incoming).then_some(m.source)),
        message_type: Set((!m.incoming).then_some(m.kind)),
        subtype: Set(m.subtype.clone()),
        content: Set(json!({ "text": "x" })),
        address: Set(Some(format!("addr-{}", m.contact))),
        status: Set(m.status),
        sent_at: Set((!m.incoming && sent && m.at.is_some()).then_some(at)),
        delivered_at: Set(matches!(m.status, DeliveryStatus::Delivered | DeliveryStatus::Read).then_some(at)),
        read_at: Set((m.status == DeliveryStatus::Read).then_some(at)),
        failed_at: Set((m.status == DeliveryStatus::Failed).then_some(at)),
        attempts: Set(1),
        sent_by_user_id: Set(m.user),
        created_at: Set(if m.incoming { at } else { at - Duration::minutes(5) }),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(&app.app.db)
    .await
    .unwrap();
}

/// A small deterministic generator (no dependency on a random source).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

async fn report(app: &TestApp, range: Value, filter: Value) -> Value {
    app.ok(REPORT, json!({ "range": range, "filter": filter })).await["messagesReport"].clone()
}

/// Per group key, its count and daily series; and the section's daily total.
type Expected = (BTreeMap<String, (i64, Vec<i64>)>, Vec<i64>);

/// The expected section from `messages`: (key → (count, per-day series)) and the daily total.
fn expected(messages: &[&Known], days: &[NaiveDate], tz: Tz, key: impl Fn(&Known) -> Option<String>) -> Expected {
    let mut groups: BTreeMap<String, (i64, Vec<i64>)> = BTreeMap::new();
    let mut series = vec![0; days.len()];
    for m in messages {
        let Some(at) = m.at else { continue };
        let Some(day) = days.iter().position(|d| *d == at.with_timezone(&tz).date_naive()) else { continue };
        let Some(key) = key(m) else { continue };
        let group = groups.entry(key).or_insert_with(|| (0, vec![0; days.len()]));
        group.0 += 1;
        group.1[day] += 1;
        series[day] += 1;
    }
    (groups, series)
}

fn check_section(section: &Value, (groups, series): Expected, what: &str) {
    let total: i64 = series.iter().sum();
    assert_eq!(section["applicable"], true, "{what}");
    assert_eq!(section["total"], total, "{what} total");
    assert_eq!(section["series"], json!(series), "{what} series");
    let got: BTreeMap<String, (i64, Vec<i64>, f64)> = section["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["count"].as_i64() != Some(0))
        .map(|g| {
            let series = g["series"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            (
                g["key"].as_str().unwrap().to_owned(),
                (g["count"].as_i64().unwrap(), series, g["percent"].as_f64().unwrap()),
            )
        })
        .collect();
    let want: BTreeMap<String, (i64, Vec<i64>, f64)> = groups
        .into_iter()
        .map(|(k, (count, series))| (k, (count, series, (count as f64 * 1000.0 / total as f64).round() / 10.0)))
        .collect();
    assert_eq!(got, want, "{what} groups");
    if total == 0 {
        assert_eq!(section["notice"], "The selected filters have no data.", "{what}");
    } else {
        assert!(section["notice"].is_null(), "{what}");
    }
}

fn status_key(status: DeliveryStatus) -> Option<String> {
    Some(
        match status {
            DeliveryStatus::Sent => "SENT",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Read => "READ",
            DeliveryStatus::Failed => "FAILED",
            _ => return None,
        }
        .to_owned(),
    )
}

fn enum_key<T: sea_orm::ActiveEnum<Value = String>>(value: T) -> String {
    value.to_value()
}

#[tokio::test]
async fn the_messages_report_counts_every_section_as_the_rows_say_in_the_workspace_time_zone() {
    let app = TestApp::spawn().await;
    app.ok("mutation($tz: String!) { updateWorkspace(input: { timeZone: $tz }) { timeZone } }", json!({ "tz": ZONE }))
        .await;
    let workspace = app.ok("{ workspace { id } viewer { user { id } } }", json!({})).await;
    let workspace_id: i64 = workspace["workspace"]["id"].as_str().unwrap().parse().unwrap();
    let owner: i64 = workspace["viewer"]["user"]["id"].as_str().unwrap().parse().unwrap();
    let tz: Tz = ZONE.parse().unwrap();
    let channels: Vec<i64> = vec![
        provider_channel(&app, "WHATSAPP_CLOUD").await.parse().unwrap(),
        provider_channel(&app, "MESSENGER").await.parse().unwrap(),
        app.channel(json!({ "name": "Sandbox", "kind": "SANDBOX" })).await.parse().unwrap(),
    ];
    let contacts: Vec<i64> = {
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(app.contact(json!({ "firstName": format!("C{i}") })).await.parse().unwrap());
        }
        ids
    };
    // 600 messages over the last 12 days, every source, type and status.
    let sources = [
        MessageSource::User,
        MessageSource::Bot,
        MessageSource::Broadcast,
        MessageSource::Workflow,
        MessageSource::Api,
        MessageSource::Zapier,
        MessageSource::Echo,
    ];
    let statuses = [
        DeliveryStatus::Queued,
        DeliveryStatus::Sending,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        DeliveryStatus::Failed,
    ];
    let now = Utc::now();
    let mut random = Lcg(7);
    let mut known = Vec::new();
    for _ in 0..600 {
        let incoming = random.next(4) == 0;
        let status = if incoming { DeliveryStatus::Delivered } else { statuses[random.next(6) as usize] };
        let kind = [MessageType::Session, MessageType::FacebookMessageTag, MessageType::WhatsappTemplate]
            [random.next(3) as usize];
        let subtype = match kind {
            MessageType::FacebookMessageTag => {
                Some(["ACCOUNT_UPDATE", "HUMAN_AGENT"][random.next(2) as usize].to_owned())
            }
            MessageType::WhatsappTemplate => Some(["order_update", "welcome"][random.next(2) as usize].to_owned()),
            MessageType::Session => None,
        };
        let source = sources[random.next(7) as usize];
        let pending = !incoming && matches!(status, DeliveryStatus::Queued | DeliveryStatus::Sending);
        known.push(Known {
            incoming,
            channel: channels[random.next(3) as usize],
            contact: contacts[random.next(4) as usize],
            source,
            kind,
            subtype: if incoming { None } else { subtype },
            status,
            at: (!pending).then(|| now - Duration::minutes(random.next(12 * 24 * 60) as i64)),
            user: (source == MessageSource::User).then_some(owner),
        });
    }
    for m in &known {
        insert(&app, workspace_id, m).await;
    }

    let report_all = report(&app, json!({ "preset": "LAST_7_DAYS" }), json!(null)).await;
    assert_eq!(report_all["timeZone"], ZONE);
    let days: Vec<NaiveDate> =
        report_all["days"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().parse().unwrap()).collect();
    let today = now.with_timezone(&tz).date_naive();
    assert_eq!(days, (0..7).rev().map(|back| today - Duration::days(back)).collect::<Vec<_>>());
    let incoming: Vec<&Known> = known.iter().filter(|m| m.incoming).collect();
    let outgoing: Vec<&Known> = known.iter().filter(|m| !m.incoming).collect();
    check_section(&report_all["incoming"], expected(&incoming, &days, tz, |m| Some(m.channel.to_string())), "incoming");
    check_section(
        &report_all["outgoingByChannel"],
        expected(&outgoing, &days, tz, |m| Some(m.channel.to_string())),
        "by channel",
    );
    check_section(
        &report_all["outgoingBySource"],
        expected(&outgoing, &days, tz, |m| Some(enum_key(m.source))),
        "by source",
    );
    check_section(&report_all["outgoingByType"], expected(&outgoing, &days, tz, |m| Some(enum_key(m.kind))), "by type");
    check_section(
        &report_all["outgoingBySubtype"],
        expected(&outgoing, &days, tz, |m| m.subtype.clone()),
        "by subtype",
    );
    check_section(&report_all["delivery"], expected(&outgoing, &days, tz, |m| status_key(m.status)), "delivery");
    let delivery: Vec<&str> =
        report_all["delivery"]["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(delivery, ["SENT", "DELIVERED", "READ", "FAILED"]);
    let labels = &report_all["outgoingBySource"]["groups"];
    assert!(labels.as_array().unwrap().iter().any(|g| g["key"] == "ECHO" && g["label"] == "Echo message"));

    // Filtered by channel and source: outgoing sections narrow, incoming does not apply.
    let (channel, source) = (channels[1], MessageSource::Broadcast);
    let filtered = report(
        &app,
        json!({ "preset": "LAST_30_DAYS" }),
        json!({ "channelIds": [channel.to_string()], "sources": ["BROADCAST"] }),
    )
    .await;
    let days30: Vec<NaiveDate> =
        filtered["days"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(days30.len(), 30);
    assert_eq!(filtered["incoming"]["applicable"], false);
    assert_eq!(filtered["incoming"]["notice"], "The selected filters are not applicable here.");
    assert_eq!(filtered["incoming"]["total"], 0);
    let narrowed: Vec<&Known> =
        outgoing.iter().copied().filter(|m| m.channel == channel && m.source == source).collect();
    check_section(
        &filtered["outgoingByType"],
        expected(&narrowed, &days30, tz, |m| Some(enum_key(m.kind))),
        "filtered type",
    );
    check_section(
        &filtered["delivery"],
        expected(&narrowed, &days30, tz, |m| status_key(m.status)),
        "filtered delivery",
    );

    // By user: only the owner's messages (source USER).
    let by_user = report(&app, json!({ "preset": "LAST_30_DAYS" }), json!({ "userId": owner.to_string() })).await;
    let mine: Vec<&Known> = outgoing.iter().copied().filter(|m| m.user == Some(owner)).collect();
    check_section(&by_user["outgoingBySource"], expected(&mine, &days30, tz, |m| Some(enum_key(m.source))), "by user");

    // By team: the messages sent by its members (the owner); an empty team has none.
    let team = |members: Vec<String>, name: &str| {
        let app = &app;
        let name = name.to_owned();
        async move {
            app.ok(
                "mutation($input: CreateTeamInput!) { createTeam(input: $input) { id } }",
                json!({ "input": { "name": name, "memberIds": members } }),
            )
            .await["createTeam"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let sales = team(vec![owner.to_string()], "Sales").await;
    let by_team = report(&app, json!({ "preset": "LAST_30_DAYS" }), json!({ "teamId": sales })).await;
    check_section(&by_team["outgoingBySource"], expected(&mine, &days30, tz, |m| Some(enum_key(m.source))), "by team");
    let empty_team = team(vec![], "Nobody").await;
    let nobody = report(&app, json!({ "preset": "LAST_30_DAYS" }), json!({ "teamId": empty_team })).await;
    assert_eq!(nobody["delivery"]["total"], 0);
    // By type: outgoing sections narrow to it.
    let by_type = report(&app, json!({ "preset": "LAST_30_DAYS" }), json!({ "types": ["WHATSAPP_TEMPLATE"] })).await;
    let templates: Vec<&Known> = outgoing.iter().copied().filter(|m| m.kind == MessageType::WhatsappTemplate).collect();
    check_section(&by_type["outgoingBySubtype"], expected(&templates, &days30, tz, |m| m.subtype.clone()), "by type");

    // By contact: incoming applies.
    let contact = contacts[2];
    let by_contact =
        report(&app, json!({ "preset": "LAST_14_DAYS" }), json!({ "contactId": contact.to_string() })).await;
    let days14: Vec<NaiveDate> =
        by_contact["days"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().parse().unwrap()).collect();
    let theirs: Vec<&Known> = incoming.iter().copied().filter(|m| m.contact == contact).collect();
    check_section(
        &by_contact["incoming"],
        expected(&theirs, &days14, tz, |m| Some(m.channel.to_string())),
        "by contact",
    );

    // Nothing matches: every section says there is no data.
    let empty = report(&app, json!({ "preset": "TODAY" }), json!({ "broadcastId": "999999" })).await;
    assert_eq!(empty["delivery"]["notice"], "The selected filters have no data.");
    assert_eq!(empty["delivery"]["total"], 0);
}

#[tokio::test]
async fn presets_start_and_end_at_midnight_in_the_workspace_time_zone() {
    let app = TestApp::spawn().await;
    app.ok("mutation($tz: String!) { updateWorkspace(input: { timeZone: $tz }) { timeZone } }", json!({ "tz": ZONE }))
        .await;
    let workspace_id: i64 =
        app.ok("{ workspace { id } }", json!({})).await["workspace"]["id"].as_str().unwrap().parse().unwrap();
    let tz: Tz = ZONE.parse().unwrap();
    let channel: i64 = app.channel(json!({ "name": "Sandbox", "kind": "SANDBOX" })).await.parse().unwrap();
    let contact: i64 = app.contact(json!({ "firstName": "Edge" })).await.parse().unwrap();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let midnight = tz.from_local_datetime(&today.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let message = |at: DateTime<Utc>| Known {
        incoming: true,
        channel,
        contact,
        source: MessageSource::Api,
        kind: MessageType::Session,
        subtype: None,
        status: DeliveryStatus::Delivered,
        at: Some(at),
        user: None,
    };
    // Exactly at midnight: today. One millisecond earlier: yesterday.
    insert(&app, workspace_id, &message(midnight)).await;
    insert(&app, workspace_id, &message(midnight - Duration::milliseconds(1))).await;
    insert(&app, workspace_id, &message(midnight - Duration::milliseconds(1))).await;
    let today_report = report(&app, json!({ "preset": "TODAY" }), json!(null)).await;
    assert_eq!(today_report["incoming"]["total"], 1);
    assert_eq!(today_report["from"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), midnight);
    let yesterday = report(&app, json!({ "preset": "YESTERDAY" }), json!(null)).await;
    assert_eq!(yesterday["incoming"]["total"], 2);
    assert_eq!(yesterday["days"], json!([(today - Duration::days(1)).to_string()]));
    let two_days =
        report(&app, json!({ "from": midnight - Duration::days(1), "to": midnight + Duration::days(1) }), json!(null))
            .await;
    assert_eq!(two_days["incoming"]["series"], json!([2, 1]));

    // Bad ranges are refused with a reason.
    let body = app.gql(REPORT, json!({ "range": { "preset": "TODAY", "from": midnight } })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = app.gql(REPORT, json!({ "range": { "from": midnight, "to": midnight - Duration::days(400) } })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    // Another workspace sees none of it.
    let (_, other) = app.other_workspace().await;
    let theirs = app.gql_as(Some(&other), REPORT, json!({ "range": { "preset": "LAST_7_DAYS" } })).await;
    assert_eq!(theirs["data"]["messagesReport"]["incoming"]["total"], 0, "{theirs:#}");
    // Agents cannot read reports.
    let agent = app.token_for(entity::Role::Agent).await;
    let body = app.gql_as(Some(&agent), REPORT, json!({ "range": { "preset": "TODAY" } })).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

const LOG: &str = "query($range: ReportRangeInput!, $filter: MessagesReportFilterInput, $after: String) {
    failedMessageLog(range: $range, filter: $filter, first: 200, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { timestamp node { id source messageType subtype errorCode errorText content { text } sentBy { id } contact { id displayName } channel { id } } } } }";

#[tokio::test]
async fn the_report_lists_show_the_seed_columns_and_stop_at_ten_thousand_rows() {
    use sea_orm::EntityTrait;
    let app = TestApp::spawn().await;
    let ids = app.ok("{ workspace { id } viewer { user { id } } }", json!({})).await;
    let workspace_id: i64 = ids["workspace"]["id"].as_str().unwrap().parse().unwrap();
    let owner: i64 = ids["viewer"]["user"]["id"].as_str().unwrap().parse().unwrap();
    let channel: i64 = provider_channel(&app, "WHATSAPP_CLOUD").await.parse().unwrap();
    let contact: i64 = app.contact(json!({ "firstName": "Ana", "lastName": "Paz" })).await.parse().unwrap();
    // Microseconds: what PostgreSQL keeps.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    // One failed template, one sent message and one incoming message, in the last hour.
    let failed = Known {
        incoming: false,
        channel,
        contact,
        source: MessageSource::User,
        kind: MessageType::WhatsappTemplate,
        subtype: Some("order_update".into()),
        status: DeliveryStatus::Failed,
        at: Some(now - Duration::minutes(30)),
        user: Some(owner),
    };
    insert(&app, workspace_id, &failed).await;
    let sent = Known { status: DeliveryStatus::Read, at: Some(now - Duration::minutes(20)), ..failed.clone() };
    insert(&app, workspace_id, &sent).await;
    let incoming = Known {
        incoming: true,
        status: DeliveryStatus::Delivered,
        at: Some(now - Duration::minutes(10)),
        ..failed.clone()
    };
    insert(&app, workspace_id, &incoming).await;
    let lists = app
        .ok(
            "query { messagesReport(range: { preset: LAST_7_DAYS }) {
                incomingMessages { totalCount edges { timestamp node { direction contact { id } channel { id } content { text } } } }
                outgoingMessages { totalCount edges { timestamp node { status source sentBy { id } deliveredAt readAt messageType subtype } } }
                failedMessages { totalCount edges { timestamp node { errorCode errorText } } } } }",
            json!({}),
        )
        .await;
    let report = &lists["messagesReport"];
    assert_eq!(report["incomingMessages"]["totalCount"], 1);
    let row = &report["incomingMessages"]["edges"][0];
    assert_eq!(row["node"]["contact"]["id"], contact.to_string());
    assert_eq!(row["node"]["channel"]["id"], channel.to_string());
    assert_eq!(row["timestamp"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), incoming.at.unwrap());
    assert_eq!(report["outgoingMessages"]["totalCount"], 2);
    let newest = &report["outgoingMessages"]["edges"][0]["node"];
    assert_eq!((newest["status"].as_str(), newest["source"].as_str()), (Some("READ"), Some("USER")));
    assert_eq!(newest["sentBy"]["id"], owner.to_string());
    assert!(newest["deliveredAt"].is_string() && newest["readAt"].is_string());
    assert_eq!(
        (newest["messageType"].as_str(), newest["subtype"].as_str()),
        (Some("WHATSAPP_TEMPLATE"), Some("order_update"))
    );
    assert_eq!(report["failedMessages"]["totalCount"], 1);
    assert_eq!(
        report["failedMessages"]["edges"][0]["timestamp"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
        failed.at.unwrap()
    );

    // 10,050 more failures: the log stops at 10,000 rows, over pages.
    let base = now - Duration::minutes(40);
    let rows: Vec<message::ActiveModel> = (0..10_050)
        .map(|i| {
            let at = base - Duration::milliseconds(i);
            message::ActiveModel {
                workspace_id: Set(workspace_id),
                contact_id: Set(Some(contact)),
                channel_id: Set(Some(channel)),
                direction: Set(MessageDirection::Outgoing),
                source: Set(Some(MessageSource::Broadcast)),
                message_type: Set(Some(MessageType::Session)),
                content: Set(json!({ "text": format!("m{i}") })),
                status: Set(DeliveryStatus::Failed),
                failed_at: Set(Some(at)),
                error_code: Set(Some("131026".into())),
                error_text: Set(Some("Message undeliverable".into())),
                attempts: Set(1),
                created_at: Set(at),
                updated_at: Set(at),
                ..Default::default()
            }
        })
        .collect();
    for chunk in rows.chunks(500) {
        message::Entity::insert_many(chunk.to_vec()).exec(&app.app.db).await.unwrap();
    }
    let range = json!({ "preset": "LAST_7_DAYS" });
    let mut after: Option<String> = None;
    let mut seen = 0;
    let mut previous: Option<DateTime<Utc>> = None;
    loop {
        let page = app.ok(LOG, json!({ "range": range, "after": after })).await["failedMessageLog"].clone();
        assert_eq!(page["totalCount"], 10_000);
        for edge in page["edges"].as_array().unwrap() {
            let at: DateTime<Utc> = edge["timestamp"].as_str().unwrap().parse().unwrap();
            assert!(previous.is_none_or(|p| p >= at), "newest first");
            previous = Some(at);
            seen += 1;
        }
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 10_000);
    // The first row is the template failure, with every column of the log.
    let first = app.ok(LOG, json!({ "range": range })).await["failedMessageLog"]["edges"][0]["node"].clone();
    assert_eq!(first["source"], "USER");
    assert_eq!(first["sentBy"]["id"], owner.to_string());
    assert_eq!(first["contact"]["displayName"], "Ana Paz");
    assert_eq!(first["channel"]["id"], channel.to_string());
    assert_eq!(
        (first["messageType"].as_str(), first["subtype"].as_str()),
        (Some("WHATSAPP_TEMPLATE"), Some("order_update"))
    );
    assert_eq!(first["content"]["text"], "x");
    // A filter narrows it (by source), and another workspace sees none of it.
    let users = app.ok(LOG, json!({ "range": range, "filter": { "sources": ["USER"] } })).await;
    assert_eq!(users["failedMessageLog"]["totalCount"], 1);
    let (_, other) = app.other_workspace().await;
    let theirs = app.gql_as(Some(&other), LOG, json!({ "range": range })).await;
    assert_eq!(theirs["data"]["failedMessageLog"]["totalCount"], 0, "{theirs:#}");
}

#[tokio::test]
async fn the_failed_message_export_has_the_seed_columns_escapes_content_and_has_no_cap() {
    use sea_orm::EntityTrait;
    let app = TestApp::spawn().await;
    let ids = app.ok("{ workspace { id } viewer { user { id } } }", json!({})).await;
    let workspace_id: i64 = ids["workspace"]["id"].as_str().unwrap().parse().unwrap();
    let owner: i64 = ids["viewer"]["user"]["id"].as_str().unwrap().parse().unwrap();
    let whatsapp: i64 = provider_channel(&app, "WHATSAPP_CLOUD").await.parse().unwrap();
    let sandbox: i64 = app.channel(json!({ "name": "Sandbox", "kind": "SANDBOX" })).await.parse().unwrap();
    let contact: i64 = app.contact(json!({ "firstName": "Ana" })).await.parse().unwrap();
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 3);
    let failure = |i: i64, channel: i64, content: Value, at: DateTime<Utc>| message::ActiveModel {
        workspace_id: Set(workspace_id),
        contact_id: Set(Some(contact)),
        channel_id: Set(Some(channel)),
        direction: Set(MessageDirection::Outgoing),
        source: Set(Some(if i == 0 { MessageSource::User } else { MessageSource::Broadcast })),
        message_type: Set(Some(if i == 0 { MessageType::WhatsappTemplate } else { MessageType::Session })),
        subtype: Set((i == 0).then(|| "order_update".to_owned())),
        content: Set(content),
        status: Set(DeliveryStatus::Failed),
        failed_at: Set(Some(at)),
        error_code: Set(Some("131026".into())),
        error_text: Set(Some("Message undeliverable".into())),
        attempts: Set(1),
        sent_by_user_id: Set((i == 0).then_some(owner)),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    };
    let first = failure(
        0,
        whatsapp,
        json!({ "template": { "name": "order_update", "language": "es", "parameters": ["Ana", "A-12"] } }),
        now - Duration::minutes(3),
    );
    let tricky = failure(1, whatsapp, json!({ "text": "Hola, \"Ana\"\nsegunda línea" }), now - Duration::minutes(2));
    message::Entity::insert_many([first, tricky]).exec(&app.app.db).await.unwrap();
    // 10,050 more on another channel: the export has no cap.
    let bulk: Vec<message::ActiveModel> = (0..10_050)
        .map(|i| {
            failure(2 + i, sandbox, json!({ "text": "x" }), now - Duration::minutes(10) - Duration::milliseconds(i))
        })
        .collect();
    for chunk in bulk.chunks(500) {
        message::Entity::insert_many(chunk.to_vec()).exec(&app.app.db).await.unwrap();
    }

    let prepare = "mutation($range: ReportRangeInput!, $channel: ID) { exportFailedMessages(range: $range, channelId: $channel) { url messageCount } }";
    let export =
        app.ok(prepare, json!({ "range": { "preset": "LAST_7_DAYS" }, "channel": whatsapp.to_string() })).await;
    assert_eq!(export["exportFailedMessages"]["messageCount"], 2);
    let url = format!("{}{}", app.address, export["exportFailedMessages"]["url"].as_str().unwrap());
    let response = app.client.get(&url).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "Date and time",
            "Sender ID",
            "Sender type",
            "Contact ID",
            "Message ID",
            "Content type",
            "Content",
            "Channel ID",
            "Type",
            "Subtype",
            "Error"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0].parse::<DateTime<Utc>>().unwrap(), now - Duration::minutes(3));
    assert_eq!(&rows[0][1], owner.to_string().as_str());
    assert_eq!(&rows[0][2], "USER");
    assert_eq!(&rows[0][3], contact.to_string().as_str());
    assert_eq!(&rows[0][5], "template");
    assert_eq!(&rows[0][6], "[template order_update (es)] Ana | A-12");
    assert_eq!(&rows[0][7], whatsapp.to_string().as_str());
    assert_eq!((&rows[0][8], &rows[0][9]), ("WHATSAPP_TEMPLATE", "order_update"));
    assert_eq!(&rows[0][10], "131026: Message undeliverable");
    assert_eq!((&rows[1][2], &rows[1][5]), ("BROADCAST", "text"));
    assert_eq!(&rows[1][6], "Hola, \"Ana\"\nsegunda línea", "quotes, commas and line breaks survive");
    assert!(rows[1][1].is_empty());

    // Every channel: all 10,052 rows, no cap.
    let all = app.ok(prepare, json!({ "range": { "preset": "LAST_7_DAYS" } })).await;
    assert_eq!(all["exportFailedMessages"]["messageCount"], 10_052);
    let url = format!("{}{}", app.address, all["exportFailedMessages"]["url"].as_str().unwrap());
    let body = app.client.get(&url).bearer_auth(&app.token).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv::Reader::from_reader(body.as_bytes()).records().count(), 10_052);
    // Without a token: 401. An agent: 403. Another workspace: only its own (none).
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    let agent = app.token_for(entity::Role::Agent).await;
    assert_eq!(app.client.get(&url).bearer_auth(&agent).send().await.unwrap().status(), 403);
    let (_, other) = app.other_workspace().await;
    let theirs = app.client.get(&url).bearer_auth(&other).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv::Reader::from_reader(theirs.as_bytes()).records().count(), 0);
    // A bad time in the URL is a clear 400.
    let broken = format!("{}/export/messages.csv?list=FAILED&from=yesterday&to=now", app.address);
    let response = app.client.get(&broken).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_broadcasts_report_adds_up_each_broadcast_and_groups_failures_by_error() {
    use crate::broadcasts::{custom_channel, draft, messages_of, segment, send_now, tagged_contacts, wait_done};
    use crate::mock_provider::{MockProvider, Reply};
    let app = TestApp::spawn().await;
    // The provider refuses two addresses, each with its own code.
    let mock = MockProvider::scripted(|received| match received.body["to"].as_str() {
        Some("a-1") => {
            Reply::Error { status: 400, code: "blocked".into(), message: "User blocked".into(), retry_after: None }
        }
        Some("a-2") => {
            Reply::Error { status: 400, code: "invalid".into(), message: "No such user".into(), retry_after: None }
        }
        _ => Reply::Accept,
    })
    .await;
    let channel = custom_channel(&app, &mock, None, None).await;
    tagged_contacts(&app, 5, "a", &channel).await;
    tagged_contacts(&app, 2, "b", &channel).await;
    let (segment_a, segment_b) = (segment(&app, "a").await, segment(&app, "b").await);
    let first = draft(&app, &channel, &segment_a, json!({ "name": "A" })).await;
    let second = draft(&app, &channel, &segment_b, json!({ "name": "B" })).await;
    let _unsent = draft(&app, &channel, &segment_b, json!({ "name": "Never sent" })).await;
    for id in [&first, &second] {
        send_now(&app, id).await;
        wait_done(&app, id, std::time::Duration::from_secs(15)).await;
    }
    // Statuses and a reply come back for the first broadcast.
    let sent: Vec<Value> = messages_of(&app, &first).await.into_iter().filter(|m| m["status"] == "SENT").collect();
    let statuses = json!({ "statuses": [
        { "messageId": sent[0]["id"], "status": "READ" },
        { "messageId": sent[1]["id"], "status": "DELIVERED" } ],
        "messages": [{ "from": sent[0]["address"], "text": "¡Gracias!" }] });
    let response = app
        .client
        .post(format!("{}/webhooks/{channel}", app.address))
        .bearer_auth("s3cret")
        .json(&statuses)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let report = app
        .ok(
            "query { broadcastsReport(range: { preset: TODAY }) {
                broadcasts { broadcast { id name } stats { ...S } } total { ...S } } }
             fragment S on BroadcastStatsView { broadcasts targetRecipients completedRecipients totalMessages sent delivered read failed replied
                deliveryRate readRate failureRate replyRate failures { code text count percent } }",
            json!({}),
        )
        .await["broadcastsReport"]
        .clone();
    let rows = report["broadcasts"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "the draft that never started is not in it");
    let row = |id: &str| rows.iter().find(|r| r["broadcast"]["id"] == id).unwrap()["stats"].clone();
    // Independent counts from the message rows.
    for id in [&first, &second] {
        let messages = messages_of(&app, id).await;
        let count =
            |status: &[&str]| messages.iter().filter(|m| status.contains(&m["status"].as_str().unwrap())).count();
        let stats = row(id);
        assert_eq!(stats["totalMessages"], messages.len());
        assert_eq!(stats["sent"], count(&["SENT", "DELIVERED", "READ"]));
        assert_eq!(stats["delivered"], count(&["DELIVERED", "READ"]));
        assert_eq!(stats["read"], count(&["READ"]));
        assert_eq!(stats["failed"], count(&["FAILED"]));
    }
    let a = row(&first);
    assert_eq!((a["targetRecipients"].as_i64(), a["completedRecipients"].as_i64()), (Some(5), Some(5)));
    assert_eq!((a["sent"].as_i64(), a["delivered"].as_i64(), a["read"].as_i64()), (Some(3), Some(2), Some(1)));
    assert_eq!((a["failed"].as_i64(), a["replied"].as_i64()), (Some(2), Some(1)));
    assert_eq!(a["deliveryRate"], 66.7);
    assert_eq!(a["readRate"], 33.3);
    assert_eq!(a["failureRate"], 40.0);
    assert_eq!(a["replyRate"], 33.3);
    assert_eq!(
        a["failures"],
        json!([{ "code": "blocked", "text": "User blocked", "count": 1, "percent": 50.0 },
               { "code": "invalid", "text": "No such user", "count": 1, "percent": 50.0 }])
    );
    let b = row(&second);
    assert_eq!(
        (b["sent"].as_i64(), b["failed"].as_i64(), b["failures"].as_array().map(Vec::len)),
        (Some(2), Some(0), Some(0))
    );
    let total = &report["total"];
    assert_eq!(total["broadcasts"], 2);
    assert_eq!(
        (total["totalMessages"].as_i64(), total["sent"].as_i64(), total["failed"].as_i64()),
        (Some(7), Some(5), Some(2))
    );
    assert_eq!(total["failures"].as_array().unwrap().len(), 2);
    // Yesterday had none.
    let yesterday =
        app.ok("query { broadcastsReport(range: { preset: YESTERDAY }) { total { broadcasts } } }", json!({})).await;
    assert_eq!(yesterday["broadcastsReport"]["total"]["broadcasts"], 0);
}
