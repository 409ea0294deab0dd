//! Connected components of an identity graph, as the aggregate SQL function
//! `connected_components(a, b)`.
//!
//! Identity resolution links records pairwise (same e-mail, same phone, …);
//! the person is the connected component of those links. Union–find over
//! interned node ids keeps memory proportional to the number of distinct
//! nodes (edges are never stored), and the partial state (each node with
//! its representative) merges associatively, so DataFusion (or Ballista)
//! can aggregate partitions in parallel.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, ListArray, StringBuilder, StructArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, UInt32Type};
use datafusion::common::hash_map::EntryRef;
use datafusion::common::{HashMap, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use super::strings::StrCol;

/// Disjoint sets over `0..len()` with union by size and path halving, so
/// that a sequence of `m` operations costs `O(m α(n))`.
#[derive(Debug, Default, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements (not of sets).
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Adds a singleton set and returns its element, or `None` once `u32`
    /// ids are exhausted.
    pub fn push(&mut self) -> Option<u32> {
        let id = u32::try_from(self.parent.len()).ok()?;
        self.parent.push(id);
        self.size.push(1);
        Some(id)
    }

    /// Representative of `x`'s set. `x` must be `< len()`.
    pub fn find(&mut self, mut x: u32) -> u32 {
        loop {
            let p = self.parent[x as usize];
            if p == x {
                return x;
            }
            let gp = self.parent[p as usize];
            self.parent[x as usize] = gp;
            x = gp;
        }
    }

    /// Merges the sets of `a` and `b`; returns the new representative.
    pub fn union(&mut self, a: u32, b: u32) -> u32 {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        let (big, small) = if self.size[ra as usize] >= self.size[rb as usize] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        big
    }
}

/// Interned node ids plus their union–find structure.
#[derive(Debug, Default)]
struct Graph {
    ids: HashMap<Box<str>, u32>,
    sets: UnionFind,
    name_bytes: usize,
}

impl Graph {
    fn intern(&mut self, name: &str) -> Result<u32> {
        match self.ids.entry_ref(name) {
            EntryRef::Occupied(e) => Ok(*e.get()),
            EntryRef::Vacant(v) => {
                let Some(id) = self.sets.push() else {
                    return exec_err!("connected_components: more than 2^32 distinct nodes");
                };
                self.name_bytes += name.len();
                v.insert_with_key(Box::from(name), id);
                Ok(id)
            }
        }
    }

    fn add_edge(&mut self, a: Option<&str>, b: Option<&str>) -> Result<()> {
        match (a, b) {
            (Some(a), Some(b)) => {
                let (x, y) = (self.intern(a)?, self.intern(b)?);
                self.sets.union(x, y);
            }
            (Some(x), None) | (None, Some(x)) => {
                self.intern(x)?;
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Root of every interned id, indexed by id.
    fn roots(&mut self) -> Vec<u32> {
        (0..self.sets.len() as u32)
            .map(|i| self.sets.find(i))
            .collect()
    }

    /// `(node, component)` for every node, sorted by node, where component is
    /// the smallest node (byte order) of its set.
    fn labels(&mut self) -> Vec<(&str, &str)> {
        let roots = self.roots();
        // Strings live in separate allocations, so each is visited once and
        // compared through an inline 16-byte prefix whenever possible: at
        // millions of nodes, pointer chasing dominates the cost.
        let mut smallest: Vec<Option<(u128, &str)>> = vec![None; roots.len()];
        let mut keyed: Vec<(u128, &str, u32)> = Vec::with_capacity(self.ids.len());
        for (name, &id) in &self.ids {
            let name: &str = name;
            let key = prefix_key(name);
            let root = roots[id as usize];
            let slot = &mut smallest[root as usize];
            if slot.is_none_or(|(k, m)| (key, name) < (k, m)) {
                *slot = Some((key, name));
            }
            keyed.push((key, name, root));
        }
        keyed.sort_unstable_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.cmp(y.1)));
        keyed
            .into_iter()
            .map(|(_, name, root)| (name, smallest[root as usize].map_or(name, |(_, m)| m)))
            .collect()
    }
}

/// The first 16 bytes of `s`, zero-padded, as a big-endian integer: ordering
/// by `(prefix_key(s), s)` is the same as ordering by `s` (a shorter string
/// pads with zeros, which never sorts after a real byte), but most
/// comparisons are settled without dereferencing the strings.
fn prefix_key(s: &str) -> u128 {
    let mut buf = [0u8; 16];
    let n = s.len().min(16);
    buf[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(buf)
}

/// Connected components of an edge list, for use outside SQL: one
/// `(node, component)` per distinct node, sorted by node, `component` being
/// the smallest node id of the component. An edge `(a, None)` only
/// registers `a`.
pub fn connected_components<'a, I>(edges: I) -> Vec<(String, String)>
where
    I: IntoIterator<Item = (&'a str, Option<&'a str>)>,
{
    let mut graph = Graph::default();
    for (a, b) in edges {
        // Only the 2^32 node limit can fail; stop adding nodes past it.
        if graph.add_edge(Some(a), b).is_err() {
            break;
        }
    }
    graph
        .labels()
        .into_iter()
        .map(|(n, c)| (n.to_string(), c.to_string()))
        .collect()
}

/// The aggregate `connected_components(a, b)`.
///
/// Input: one edge per row, two node ids of any string type (integer ids
/// are cast to strings). A row whose `b` is NULL only registers `a` (an
/// isolated node); a NULL `a` with a non-NULL `b` registers `b`; two NULLs
/// are ignored. Node ids are compared as exact strings (normalise them
/// first); `''` is a node like any other.
///
/// Output: `List<Struct<node: Utf8, component: Utf8>>`, one entry per
/// distinct node, sorted by `node`, where `component` is the smallest node
/// id (byte order) of the node's connected component, so labels are stable
/// across runs, partitionings and input orders. An empty input gives an
/// empty list. It also works per group (`GROUP BY tenant`).
///
/// SQL usage in DataFusion 55 (tested in `tests/functions.rs`):
///
/// ```sql
/// -- one row per node, struct fields by name
/// select c['node'] as node, c['component'] as component
/// from (select unnest(connected_components(a, b)) as c from edges);
///
/// -- or expand the struct with a second unnest
/// select unnest(c) from (select unnest(connected_components(a, b)) as c from edges);
/// -- columns: "c.node", "c.component"
/// ```
///
/// Cost: `O(edges · α)` time, memory proportional to the number of
/// distinct nodes; the whole result is one list value, so it must fit in
/// memory and its ids in 2 GiB of string bytes.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ConnectedComponents {
    signature: Signature,
}

impl Default for ConnectedComponents {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectedComponents {
    pub fn new() -> Self {
        Self {
            // Aggregates reject `Signature::string`; coercion is done in
            // `coerce_types` instead.
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn struct_fields() -> Fields {
        Fields::from(vec![
            Field::new("node", DataType::Utf8, false),
            Field::new("component", DataType::Utf8, false),
        ])
    }

    fn item_field() -> FieldRef {
        Arc::new(Field::new_list_field(
            DataType::Struct(Self::struct_fields()),
            true,
        ))
    }

    /// `List<Struct<node: Utf8, component: Utf8>>`.
    pub fn output_type() -> DataType {
        DataType::List(Self::item_field())
    }
}

impl AggregateUDFImpl for ConnectedComponents {
    fn name(&self) -> &str {
        "connected_components"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(Self::output_type())
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ComponentsAccumulator::default()))
    }

    /// Partial state: the nodes seen, and for each the position (in that
    /// same list) of a node of its component. Ids are written once, so the
    /// state is as small as the node set.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "nodes"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "roots"),
                DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, true))),
                true,
            )),
        ])
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "connected_components expects 2 arguments, got {}",
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .map(|t| match t {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(t.clone()),
                DataType::Dictionary(_, v)
                    if matches!(
                        **v,
                        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                    ) =>
                {
                    Ok((**v).clone())
                }
                // Integer ids work too, compared as their decimal strings.
                DataType::Null => Ok(DataType::Utf8),
                t if t.is_integer() => Ok(DataType::Utf8),
                t => plan_err!("connected_components expects string node ids, got {t}"),
            })
            .collect()
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

#[derive(Debug, Default)]
struct ComponentsAccumulator {
    graph: Graph,
}

/// Builds a Utf8 array, refusing rather than panicking when the i32 offsets
/// of Utf8 would overflow.
fn utf8_array<'a>(
    values: impl ExactSizeIterator<Item = &'a str>,
    bytes: usize,
) -> Result<ArrayRef> {
    if bytes > i32::MAX as usize {
        return exec_err!(
            "connected_components: {bytes} bytes of node ids exceed the 2 GiB Utf8 limit"
        );
    }
    let mut builder = StringBuilder::with_capacity(values.len(), bytes);
    for v in values {
        builder.append_value(v);
    }
    Ok(Arc::new(builder.finish()))
}

fn single_list(item: FieldRef, values: ArrayRef) -> Result<ScalarValue> {
    let offsets = OffsetBuffer::from_lengths([values.len()]);
    let list = ListArray::try_new(item, offsets, values, None)?;
    Ok(ScalarValue::List(Arc::new(list)))
}

impl Accumulator for ComponentsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [a, b] = values else {
            return exec_err!("connected_components expects 2 arguments");
        };
        let (a, b) = (StrCol::new(a)?, StrCol::new(b)?);
        for i in 0..a.len() {
            self.graph.add_edge(a.get(i), b.get(i))?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let node_bytes = self.graph.name_bytes;
        let labels = self.graph.labels();
        let comp_bytes: usize = labels.iter().map(|(_, c)| c.len()).sum();
        let nodes = utf8_array(labels.iter().map(|(n, _)| *n), node_bytes)?;
        let comps = utf8_array(labels.iter().map(|(_, c)| *c), comp_bytes)?;
        let entries = StructArray::try_new(
            ConnectedComponents::struct_fields(),
            vec![nodes, comps],
            None,
        )?;
        single_list(ConnectedComponents::item_field(), Arc::new(entries))
    }

    fn size(&self) -> usize {
        let g = &self.graph;
        size_of::<Self>()
            + g.ids.capacity() * (size_of::<Box<str>>() + size_of::<u32>() + 1)
            + g.name_bytes
            + g.sets.parent.capacity() * size_of::<u32>() * 2
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let roots = self.graph.roots();
        // Position of each id in the emitted node list (hash-map order).
        let mut position = vec![0u32; roots.len()];
        for (pos, &id) in self.graph.ids.values().enumerate() {
            position[id as usize] = pos as u32;
        }
        let root_positions: UInt32Array = self
            .graph
            .ids
            .values()
            .map(|&id| position[roots[id as usize] as usize])
            .collect();
        let nodes = utf8_array(
            self.graph.ids.keys().map(|k| k.as_ref()),
            self.graph.name_bytes,
        )?;
        let item = |t| Arc::new(Field::new_list_field(t, true));
        Ok(vec![
            single_list(item(DataType::Utf8), nodes)?,
            single_list(item(DataType::UInt32), Arc::new(root_positions))?,
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [nodes, roots] = states else {
            return exec_err!("connected_components: expected 2 state columns");
        };
        let (Some(nodes), Some(roots)) = (nodes.as_list_opt::<i32>(), roots.as_list_opt::<i32>())
        else {
            return exec_err!("connected_components: state columns must be lists");
        };
        let mut local = Vec::new();
        for row in 0..nodes.len().min(roots.len()) {
            if nodes.is_null(row) || roots.is_null(row) {
                continue;
            }
            let names = StrCol::new(&nodes.value(row))?;
            let root_array = roots.value(row);
            let Some(positions) = root_array.as_primitive_opt::<UInt32Type>() else {
                return exec_err!("connected_components: roots state must be UInt32");
            };
            if positions.len() != names.len() {
                return exec_err!("connected_components: inconsistent partial state");
            }
            local.clear();
            for i in 0..names.len() {
                let Some(name) = names.get(i) else {
                    return exec_err!("connected_components: null node in partial state");
                };
                local.push(self.graph.intern(name)?);
            }
            for (i, &node) in local.iter().enumerate() {
                let Some(&root) = positions
                    .is_valid(i)
                    .then(|| positions.value(i) as usize)
                    .and_then(|p| local.get(p))
                else {
                    return exec_err!("connected_components: bad root position in partial state");
                };
                self.graph.sets.union(node, root);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(edges: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
        connected_components(edges.iter().copied())
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn prefix_key_order_matches_string_order() {
        let mut words = vec![
            "",
            "a",
            "a\0",
            "a\0b",
            "ab",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnop\0",
            "b",
            "é",
            "zz",
        ];
        let mut by_key = words.clone();
        by_key.sort_by(|x, y| (prefix_key(x), *x).cmp(&(prefix_key(y), *y)));
        words.sort();
        assert_eq!(by_key, words);
    }

    #[test]
    fn union_find_basics() {
        let mut uf = UnionFind::new();
        let ids: Vec<u32> = (0..6).filter_map(|_| uf.push()).collect();
        uf.union(ids[0], ids[1]);
        uf.union(ids[2], ids[3]);
        uf.union(ids[1], ids[3]);
        assert_eq!(uf.find(0), uf.find(2));
        assert_ne!(uf.find(0), uf.find(4));
        assert_eq!(uf.find(5), 5);
    }

    #[test]
    fn smallest_id_labels_components() {
        let got = labels(&[
            ("c", Some("b")),
            ("b", Some("a")),
            ("x", Some("y")),
            ("lonely", None),
            ("y", Some("x")),
        ]);
        assert_eq!(
            got,
            pairs(&[
                ("a", "a"),
                ("b", "a"),
                ("c", "a"),
                ("lonely", "lonely"),
                ("x", "x"),
                ("y", "x"),
            ])
        );
        assert!(labels(&[]).is_empty());
    }

    fn batch(edges: &[(&str, Option<&str>)]) -> Vec<ArrayRef> {
        let a: datafusion::arrow::array::StringArray = edges.iter().map(|e| Some(e.0)).collect();
        let b: datafusion::arrow::array::StringViewArray = edges.iter().map(|e| e.1).collect();
        vec![Arc::new(a), Arc::new(b)]
    }

    #[test]
    fn state_merge_equals_single_pass() -> Result<()> {
        let part1 = [("a", Some("b")), ("c", Some("d")), ("e", None)];
        let part2 = [("d", Some("b")), ("f", Some("g")), ("h", Some("h"))];

        let mut whole = ComponentsAccumulator::default();
        whole.update_batch(&batch(&part1))?;
        whole.update_batch(&batch(&part2))?;

        let mut partials = Vec::new();
        for part in [&part1[..], &part2[..]] {
            let mut acc = ComponentsAccumulator::default();
            acc.update_batch(&batch(part))?;
            partials.push(acc.state()?);
        }
        // Concatenate the partial states as DataFusion does before merging.
        let mut columns = Vec::new();
        for col in 0..2 {
            let scalars = partials.iter().map(|s| s[col].clone());
            columns.push(ScalarValue::iter_to_array(scalars)?);
        }
        let mut merged = ComponentsAccumulator::default();
        merged.merge_batch(&columns)?;

        assert_eq!(merged.evaluate()?, whole.evaluate()?);
        assert!(merged.size() > 0);
        Ok(())
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_panic() -> Result<()> {
        let mut acc = ComponentsAccumulator::default();
        acc.update_batch(&batch(&[("a", Some("b"))]))?;
        let state = acc.state()?;
        let nodes = state[0].to_array()?;
        let bad_roots = single_list(
            Arc::new(Field::new_list_field(DataType::UInt32, true)),
            Arc::new(UInt32Array::from(vec![0, 7])),
        )?
        .to_array()?;
        let mut merged = ComponentsAccumulator::default();
        assert!(merged.merge_batch(&[nodes, bad_roots]).is_err());
        Ok(())
    }
}
