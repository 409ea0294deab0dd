//! The Arrow schemas of every table the generator writes (exactly the raw-exports contract),
//! the plain row structs the simulation fills, and their conversion to `RecordBatch`es.
//! Rows are plain structs rather than builders so that late and duplicate rows can be held
//! back and exported in a later partition.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// Every table the generator writes, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    CrmContacts,
    WebEvents,
    AdInteractions,
    Orders,
    PosTransactions,
    PurchaseRegistrations,
    CampaignSpend,
    SuppressionList,
    TruthRecordPerson,
    TruthChannelEffect,
}

impl Table {
    pub const ALL: [Table; 10] = [
        Table::CrmContacts,
        Table::WebEvents,
        Table::AdInteractions,
        Table::Orders,
        Table::PosTransactions,
        Table::PurchaseRegistrations,
        Table::CampaignSpend,
        Table::SuppressionList,
        Table::TruthRecordPerson,
        Table::TruthChannelEffect,
    ];

    /// Folder of the table under the output prefix.
    pub fn folder(self) -> &'static str {
        match self {
            Table::CrmContacts => "crm_contacts",
            Table::WebEvents => "web_events",
            Table::AdInteractions => "ad_interactions",
            Table::Orders => "orders",
            Table::PosTransactions => "pos_transactions",
            Table::PurchaseRegistrations => "purchase_registrations",
            Table::CampaignSpend => "campaign_spend",
            Table::SuppressionList => "suppression_list",
            Table::TruthRecordPerson => "_truth/record_person",
            Table::TruthChannelEffect => "_truth/channel_effect",
        }
    }

    /// Whether the table is Hive-partitioned by `export_date`.
    pub fn partitioned(self) -> bool {
        !matches!(
            self,
            Table::SuppressionList | Table::TruthRecordPerson | Table::TruthChannelEffect
        )
    }

    pub fn schema(self) -> SchemaRef {
        let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let money = || DataType::Decimal128(12, 2);
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        let fields = match self {
            Table::CrmContacts => vec![
                s("contact_id", false),
                s("source_system", false),
                s("email", true),
                s("phone", true),
                s("first_name", true),
                s("last_name", true),
                Field::new("birth_date", DataType::Date32, true),
                s("street_address", true),
                s("postal_code", true),
                s("city", true),
                s("country", true),
                s("loyalty_card_id", true),
                Field::new("consent_marketing", DataType::Boolean, true),
                Field::new("consent_updated_at", ts(), true),
                Field::new("created_at", ts(), false),
                Field::new("updated_at", ts(), false),
            ],
            Table::WebEvents => vec![
                s("event_id", false),
                Field::new("event_ts", ts(), false),
                s("anonymous_id", false),
                s("session_id", false),
                s("user_id", true),
                s("email_sha256", true),
                s("event_type", false),
                s("page_url", true),
                s("referrer", true),
                s("utm_source", true),
                s("utm_medium", true),
                s("utm_campaign", true),
                s("device_type", true),
                s("order_id", true),
                Field::new("revenue", money(), true),
                s("currency", true),
                s("user_agent", true),
            ],
            Table::AdInteractions => vec![
                s("interaction_id", false),
                Field::new("interaction_ts", ts(), false),
                s("channel", false),
                s("campaign_id", false),
                s("interaction_type", false),
                s("anonymous_id", true),
                s("email_sha256", true),
                s("phone_sha256", true),
                Field::new("dwell_seconds", DataType::Int32, true),
            ],
            Table::Orders => vec![
                s("order_id", false),
                Field::new("order_ts", ts(), false),
                s("customer_id", true),
                s("email", true),
                s("anonymous_id", true),
                Field::new("amount", money(), false),
                s("currency", false),
                s("status", false),
            ],
            Table::PosTransactions => vec![
                s("transaction_id", false),
                Field::new("transaction_ts", ts(), false),
                s("store_id", false),
                s("loyalty_card_id", true),
                s("receipt_email", true),
                s("phone", true),
                Field::new("amount", money(), false),
                s("currency", false),
            ],
            Table::PurchaseRegistrations => vec![
                s("registration_id", false),
                Field::new("registered_at", ts(), false),
                s("email", false),
                Field::new("purchase_date", DataType::Date32, false),
                s("retailer", false),
                s("product_sku", false),
                Field::new("amount", money(), true),
                s("incentive", false),
            ],
            Table::CampaignSpend => vec![
                Field::new("spend_date", DataType::Date32, false),
                s("channel", false),
                s("campaign_id", false),
                s("campaign_name", false),
                Field::new("spend", money(), false),
                s("currency", false),
                Field::new("impressions", DataType::Int64, true),
                Field::new("clicks", DataType::Int64, true),
            ],
            Table::SuppressionList => vec![
                s("identifier_type", false),
                s("identifier_value", false),
                Field::new("requested_at", ts(), false),
            ],
            Table::TruthRecordPerson => vec![
                s("table", false),
                s("record_id", false),
                s("person_id", false),
                Field::new("identifiable", DataType::Boolean, false),
            ],
            Table::TruthChannelEffect => vec![
                s("channel", false),
                Field::new("lift", DataType::Float64, false),
            ],
        };
        Arc::new(Schema::new(fields))
    }
}

#[derive(Clone, Debug)]
pub struct CrmRow {
    pub contact_id: String,
    pub source_system: &'static str,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<i32>,
    pub street_address: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub loyalty_card_id: Option<String>,
    pub consent_marketing: Option<bool>,
    pub consent_updated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug)]
pub struct WebRow {
    pub event_id: String,
    pub event_ts: i64,
    pub anonymous_id: String,
    pub session_id: String,
    pub user_id: Option<String>,
    pub email_sha256: Option<String>,
    pub event_type: &'static str,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub utm_source: Option<&'static str>,
    pub utm_medium: Option<&'static str>,
    pub utm_campaign: Option<String>,
    pub device_type: Option<&'static str>,
    pub order_id: Option<String>,
    pub revenue: Option<i128>,
    pub currency: Option<&'static str>,
    pub user_agent: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct AdRow {
    pub interaction_id: String,
    pub interaction_ts: i64,
    pub channel: &'static str,
    pub campaign_id: String,
    pub interaction_type: &'static str,
    pub anonymous_id: Option<String>,
    pub email_sha256: Option<String>,
    pub phone_sha256: Option<String>,
    pub dwell_seconds: Option<i32>,
}

#[derive(Clone, Debug)]
pub struct OrderRow {
    pub order_id: String,
    pub order_ts: i64,
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub anonymous_id: Option<String>,
    pub amount: i128,
    pub currency: &'static str,
    pub status: &'static str,
}

#[derive(Clone, Debug)]
pub struct PosRow {
    pub transaction_id: String,
    pub transaction_ts: i64,
    pub store_id: String,
    pub loyalty_card_id: Option<String>,
    pub receipt_email: Option<String>,
    pub phone: Option<String>,
    pub amount: i128,
    pub currency: &'static str,
}

#[derive(Clone, Debug)]
pub struct RegRow {
    pub registration_id: String,
    pub registered_at: i64,
    pub email: String,
    pub purchase_date: i32,
    pub retailer: &'static str,
    pub product_sku: String,
    pub amount: Option<i128>,
    pub incentive: &'static str,
}

#[derive(Clone, Debug)]
pub struct SpendRow {
    pub spend_date: i32,
    pub channel: &'static str,
    pub campaign_id: String,
    pub campaign_name: String,
    pub spend: i128,
    pub currency: &'static str,
    pub impressions: Option<i64>,
    pub clicks: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct TruthRow {
    pub table: &'static str,
    pub record_id: String,
    pub person_id: String,
    pub identifiable: bool,
}

#[derive(Clone, Debug)]
pub struct SuppressionRow {
    pub identifier_type: &'static str,
    pub identifier_value: String,
    pub requested_at: i64,
}

fn strs<'a>(it: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(it))
}
fn ostrs<'a>(it: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(it))
}
fn tss(it: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(it).with_timezone("UTC"))
}
fn otss(it: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(it).with_timezone("UTC"))
}
fn money(it: impl Iterator<Item = Option<i128>>) -> Result<ArrayRef, ArrowError> {
    Ok(Arc::new(
        Decimal128Array::from_iter(it).with_precision_and_scale(12, 2)?,
    ))
}

pub fn crm_batch(rows: &[CrmRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.contact_id.as_str())),
        strs(rows.iter().map(|r| r.source_system)),
        ostrs(rows.iter().map(|r| r.email.as_deref())),
        ostrs(rows.iter().map(|r| r.phone.as_deref())),
        ostrs(rows.iter().map(|r| r.first_name.as_deref())),
        ostrs(rows.iter().map(|r| r.last_name.as_deref())),
        Arc::new(Date32Array::from_iter(rows.iter().map(|r| r.birth_date))),
        ostrs(rows.iter().map(|r| r.street_address.as_deref())),
        ostrs(rows.iter().map(|r| r.postal_code.as_deref())),
        ostrs(rows.iter().map(|r| r.city.as_deref())),
        ostrs(rows.iter().map(|r| r.country.as_deref())),
        ostrs(rows.iter().map(|r| r.loyalty_card_id.as_deref())),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| r.consent_marketing),
        )),
        otss(rows.iter().map(|r| r.consent_updated_at)),
        tss(rows.iter().map(|r| r.created_at)),
        tss(rows.iter().map(|r| r.updated_at)),
    ];
    RecordBatch::try_new(Table::CrmContacts.schema(), cols)
}

pub fn web_batch(rows: &[WebRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.event_id.as_str())),
        tss(rows.iter().map(|r| r.event_ts)),
        strs(rows.iter().map(|r| r.anonymous_id.as_str())),
        strs(rows.iter().map(|r| r.session_id.as_str())),
        ostrs(rows.iter().map(|r| r.user_id.as_deref())),
        ostrs(rows.iter().map(|r| r.email_sha256.as_deref())),
        strs(rows.iter().map(|r| r.event_type)),
        ostrs(rows.iter().map(|r| r.page_url.as_deref())),
        ostrs(rows.iter().map(|r| r.referrer.as_deref())),
        ostrs(rows.iter().map(|r| r.utm_source)),
        ostrs(rows.iter().map(|r| r.utm_medium)),
        ostrs(rows.iter().map(|r| r.utm_campaign.as_deref())),
        ostrs(rows.iter().map(|r| r.device_type)),
        ostrs(rows.iter().map(|r| r.order_id.as_deref())),
        money(rows.iter().map(|r| r.revenue))?,
        ostrs(rows.iter().map(|r| r.currency)),
        ostrs(rows.iter().map(|r| r.user_agent)),
    ];
    RecordBatch::try_new(Table::WebEvents.schema(), cols)
}

pub fn ad_batch(rows: &[AdRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.interaction_id.as_str())),
        tss(rows.iter().map(|r| r.interaction_ts)),
        strs(rows.iter().map(|r| r.channel)),
        strs(rows.iter().map(|r| r.campaign_id.as_str())),
        strs(rows.iter().map(|r| r.interaction_type)),
        ostrs(rows.iter().map(|r| r.anonymous_id.as_deref())),
        ostrs(rows.iter().map(|r| r.email_sha256.as_deref())),
        ostrs(rows.iter().map(|r| r.phone_sha256.as_deref())),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.dwell_seconds))),
    ];
    RecordBatch::try_new(Table::AdInteractions.schema(), cols)
}

pub fn order_batch(rows: &[OrderRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.order_id.as_str())),
        tss(rows.iter().map(|r| r.order_ts)),
        ostrs(rows.iter().map(|r| r.customer_id.as_deref())),
        ostrs(rows.iter().map(|r| r.email.as_deref())),
        ostrs(rows.iter().map(|r| r.anonymous_id.as_deref())),
        money(rows.iter().map(|r| Some(r.amount)))?,
        strs(rows.iter().map(|r| r.currency)),
        strs(rows.iter().map(|r| r.status)),
    ];
    RecordBatch::try_new(Table::Orders.schema(), cols)
}

pub fn pos_batch(rows: &[PosRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.transaction_id.as_str())),
        tss(rows.iter().map(|r| r.transaction_ts)),
        strs(rows.iter().map(|r| r.store_id.as_str())),
        ostrs(rows.iter().map(|r| r.loyalty_card_id.as_deref())),
        ostrs(rows.iter().map(|r| r.receipt_email.as_deref())),
        ostrs(rows.iter().map(|r| r.phone.as_deref())),
        money(rows.iter().map(|r| Some(r.amount)))?,
        strs(rows.iter().map(|r| r.currency)),
    ];
    RecordBatch::try_new(Table::PosTransactions.schema(), cols)
}

pub fn reg_batch(rows: &[RegRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.registration_id.as_str())),
        tss(rows.iter().map(|r| r.registered_at)),
        strs(rows.iter().map(|r| r.email.as_str())),
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| r.purchase_date),
        )),
        strs(rows.iter().map(|r| r.retailer)),
        strs(rows.iter().map(|r| r.product_sku.as_str())),
        money(rows.iter().map(|r| r.amount))?,
        strs(rows.iter().map(|r| r.incentive)),
    ];
    RecordBatch::try_new(Table::PurchaseRegistrations.schema(), cols)
}

pub fn spend_batch(rows: &[SpendRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| r.spend_date),
        )),
        strs(rows.iter().map(|r| r.channel)),
        strs(rows.iter().map(|r| r.campaign_id.as_str())),
        strs(rows.iter().map(|r| r.campaign_name.as_str())),
        money(rows.iter().map(|r| Some(r.spend)))?,
        strs(rows.iter().map(|r| r.currency)),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.impressions))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.clicks))),
    ];
    RecordBatch::try_new(Table::CampaignSpend.schema(), cols)
}

pub fn truth_batch(rows: &[TruthRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.table)),
        strs(rows.iter().map(|r| r.record_id.as_str())),
        strs(rows.iter().map(|r| r.person_id.as_str())),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.identifiable)),
        )),
    ];
    RecordBatch::try_new(Table::TruthRecordPerson.schema(), cols)
}

pub fn suppression_batch(rows: &[SuppressionRow]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.identifier_type)),
        strs(rows.iter().map(|r| r.identifier_value.as_str())),
        tss(rows.iter().map(|r| r.requested_at)),
    ];
    RecordBatch::try_new(Table::SuppressionList.schema(), cols)
}

pub fn channel_effect_batch(rows: &[(&str, f64)]) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| r.0)),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.1))),
    ];
    RecordBatch::try_new(Table::TruthChannelEffect.schema(), cols)
}
