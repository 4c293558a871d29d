//! The vector index: an HNSW graph (hnsw_rs, dot product on normalised vectors,
//! i.e. cosine) keyed by chunk id. Removed chunks are tombstoned and filtered
//! out during the search; when tombstones pass a fraction of the graph it is
//! rebuilt. The graph is saved atomically (a new folder, fsynced, renamed over
//! the old one) with a manifest naming the catalog generation it reflects; a
//! missing, stale or damaged graph is rebuilt from the vectors in the catalog.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::catalog::ChunkId;

/// Links per node and search breadth: recall close to exact search at these sizes.
const MAX_CONNECTIONS: usize = 24;
const MAX_LAYERS: usize = 16;
const EF_CONSTRUCTION: usize = 200;
const EF_SEARCH: usize = 200;
/// Up to this many points a search compares the query with every one: exact, and
/// a few milliseconds. HNSW's greedy walk can miss an outlier (the one manual
/// among hundreds of near-identical notes) and with it the only good answer.
const EXACT_SEARCH_UP_TO: usize = 20_000;
/// Past this share of tombstoned points the graph is rebuilt.
pub const REBUILD_TOMBSTONE_FRACTION: f64 = 0.2;

const CURRENT: &str = "graph";
const BASENAME: &str = "chunks";
const MANIFEST: &str = "manifest.json";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    generation: i64,
    dimension: usize,
    points: usize,
    tombstones: Vec<ChunkId>,
}

/// Cosine distance between unit vectors: 1 − dot, clamped at 0. (anndists'
/// DistDot asserts 1 − dot ≥ 0, which rounding breaks for identical passages.)
/// Eight accumulators let the compiler vectorise the loop.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0f32; 8];
        let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = a_chunks
            .remainder()
            .iter()
            .zip(b_chunks.remainder())
            .map(|(x, y)| x * y)
            .sum();
        for (x, y) in a_chunks.zip(b_chunks) {
            for i in 0..8 {
                lanes[i] += x[i] * y[i];
            }
        }
        (1.0 - (lanes.iter().sum::<f32>() + tail)).max(0.0)
    }
}

struct Graph {
    hnsw: Hnsw<'static, f32, UnitCosine>,
    points: usize,
    tombstones: HashSet<usize>,
    generation: i64,
}

impl Graph {
    fn empty(capacity: usize) -> Graph {
        Graph {
            hnsw: Hnsw::new(
                MAX_CONNECTIONS,
                capacity.max(1024),
                MAX_LAYERS,
                EF_CONSTRUCTION,
                UnitCosine,
            ),
            points: 0,
            tombstones: HashSet::new(),
            generation: 0,
        }
    }

    /// Inserts one point at a time: hnsw_rs's parallel insert can deadlock when
    /// two new points become each other's neighbours (each thread holds a read
    /// lock on its own point while it waits to write the other's).
    fn insert(&mut self, items: &[(ChunkId, Vec<f32>)]) {
        for (id, vector) in items {
            self.hnsw.insert_slice((vector.as_slice(), chunk_key(*id)));
        }
        self.points += items.len();
    }
}

pub struct VectorIndex {
    dir: PathBuf,
    dimension: usize,
    graph: RwLock<Graph>,
    /// One save at a time: the background rebuild saves beside the indexing run's
    /// save, and both stage in the same folder.
    saving: std::sync::Mutex<()>,
    /// Up to this many points, searches are exact ([`EXACT_SEARCH_UP_TO`]; lower in tests,
    /// which walk the graph without making 20,000 points).
    exact_up_to: usize,
}

impl VectorIndex {
    /// Opens the saved graph in `dir` if it reflects `generation` of the catalog;
    /// otherwise says why not (then build one from the catalog's vectors).
    pub fn load(dir: &Path, dimension: usize, generation: i64) -> std::result::Result<VectorIndex, String> {
        let graph = load(dir, dimension, generation)?;
        Ok(VectorIndex {
            dir: dir.to_path_buf(),
            dimension,
            graph: RwLock::new(graph),
            saving: std::sync::Mutex::new(()),
            exact_up_to: EXACT_SEARCH_UP_TO,
        })
    }

    /// Builds a graph of `vectors` (all live vectors as of `generation`) and saves it in `dir`.
    pub fn build(
        dir: &Path,
        dimension: usize,
        vectors: Vec<(ChunkId, Vec<f32>)>,
        generation: i64,
    ) -> Result<VectorIndex> {
        let index = VectorIndex::built(dir, dimension, vectors, generation);
        index.save()?;
        Ok(index)
    }

    /// The graph of `vectors` as of catalog `generation`, in memory: saving it in `dir`
    /// is the caller's ([`VectorIndex::save`]).
    pub fn built(
        dir: &Path,
        dimension: usize,
        vectors: Vec<(ChunkId, Vec<f32>)>,
        generation: i64,
    ) -> VectorIndex {
        VectorIndex {
            dir: dir.to_path_buf(),
            dimension,
            graph: RwLock::new(build(vectors, generation)),
            saving: std::sync::Mutex::new(()),
            exact_up_to: EXACT_SEARCH_UP_TO,
        }
    }

    /// Adds vectors, and tombstones the chunks that were removed, as of catalog `generation`.
    pub fn update(&self, added: &[(ChunkId, Vec<f32>)], removed: &[ChunkId], generation: i64) {
        let mut graph = self.write();
        if !added.is_empty() {
            graph.insert(added);
        }
        graph.tombstones.extend(removed.iter().map(|&id| chunk_key(id)));
        graph.generation = generation;
    }

    /// Replaces the graph with one built from `vectors`, the live vectors as of
    /// `generation`, unless the graph has moved on since (then the rebuild is
    /// stale and is dropped). Returns whether it was replaced.
    pub fn replace(&self, vectors: Vec<(ChunkId, Vec<f32>)>, generation: i64) -> bool {
        let fresh = build(vectors, generation);
        let mut graph = self.write();
        if graph.generation != generation {
            return false;
        }
        *graph = fresh;
        true
    }

    /// The `k` nearest live chunks to `query`, nearest first, with cosine similarity.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(ChunkId, f32)> {
        let graph = self.read();
        if graph.points == 0 || k == 0 {
            return Vec::new();
        }
        let tombstones = &graph.tombstones;
        let alive = |id: &usize| !tombstones.contains(id);
        if graph.points <= self.exact_up_to {
            return exact_search(&graph, query, k, alive);
        }
        let neighbours = graph.hnsw.search_filter(query, k, EF_SEARCH.max(k), Some(&alive));
        neighbours
            .into_iter()
            .map(|n| (i64::try_from(n.d_id).unwrap_or(i64::MAX), 1.0 - n.distance))
            .collect()
    }

    /// The `k` nearest live chunks to `query` among those `keep` accepts (a folder's, a
    /// file type's). Exact: the graph's walk would find few or none of the accepted
    /// chunks when they are a small part of the library, so every point is checked
    /// against `keep` and only accepted ones are compared with the query.
    pub fn search_among(
        &self,
        query: &[f32],
        k: usize,
        keep: &dyn Fn(ChunkId) -> bool,
    ) -> Vec<(ChunkId, f32)> {
        let graph = self.read();
        if graph.points == 0 || k == 0 {
            return Vec::new();
        }
        let tombstones = &graph.tombstones;
        exact_search(&graph, query, k, |id: &usize| {
            !tombstones.contains(id) && keep(i64::try_from(*id).unwrap_or(i64::MAX))
        })
    }

    /// The vectors of the live chunks among `ids` (a chunk the graph lacks is left out).
    pub fn vectors_of(&self, ids: &[ChunkId]) -> HashMap<ChunkId, Vec<f32>> {
        live_vectors(&self.read(), ids)
    }

    /// Search by `query` moved towards the chunks `towards`: `move_towards` is given the
    /// vectors of those the graph holds and makes the moved query (None: no search). The `k`
    /// live chunks nearest to it (among those `keep` accepts: then exactly, as
    /// [`VectorIndex::search_among`]), each with its similarity to the moved query, which
    /// ranks them, and to `query` itself. One read of the graph throughout.
    pub fn search_moved(
        &self,
        query: &[f32],
        towards: &[ChunkId],
        move_towards: impl FnOnce(&[Vec<f32>]) -> Option<Vec<f32>>,
        k: usize,
        keep: Option<&dyn Fn(ChunkId) -> bool>,
    ) -> Vec<MovedHit> {
        let graph = self.read();
        if graph.points == 0 || k == 0 {
            return Vec::new();
        }
        let passages: Vec<Vec<f32>> = live_vectors(&graph, towards).into_values().collect();
        let Some(moved) = move_towards(&passages) else {
            return Vec::new();
        };
        let tombstones = &graph.tombstones;
        let alive = |id: &usize| {
            !tombstones.contains(id) && keep.is_none_or(|keep| keep(i64::try_from(*id).unwrap_or(i64::MAX)))
        };
        let similarity = |vector: &[f32]| 1.0 - UnitCosine.eval(query, vector);
        if keep.is_some() || graph.points <= self.exact_up_to {
            let mut scored: Vec<_> = graph
                .hnsw
                .get_point_indexation()
                .into_iter()
                .filter(|point| alive(&point.get_origin_id()))
                .map(|point| (UnitCosine.eval(&moved, point.get_v()), point))
                .collect();
            scored.sort_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then(a.1.get_origin_id().cmp(&b.1.get_origin_id()))
            });
            scored.truncate(k);
            return scored
                .into_iter()
                .map(|(distance, point)| MovedHit {
                    chunk_id: i64::try_from(point.get_origin_id()).unwrap_or(i64::MAX),
                    moved_similarity: 1.0 - distance,
                    similarity: similarity(point.get_v()),
                })
                .collect();
        }
        let points = graph.hnsw.get_point_indexation();
        graph
            .hnsw
            .search_filter(&moved, k, EF_SEARCH.max(k), Some(&alive))
            .into_iter()
            .filter_map(|n| {
                Some(MovedHit {
                    chunk_id: i64::try_from(n.d_id).unwrap_or(i64::MAX),
                    moved_similarity: 1.0 - n.distance,
                    similarity: similarity(&points.get_point_data(&n.p_id)?),
                })
            })
            .collect()
    }

    pub fn tombstone_fraction(&self) -> f64 {
        let graph = self.read();
        if graph.points == 0 {
            0.0
        } else {
            graph.tombstones.len() as f64 / graph.points as f64
        }
    }

    pub fn live_points(&self) -> usize {
        let graph = self.read();
        graph.points.saturating_sub(graph.tombstones.len())
    }

    /// Saves the graph: written in full to a new folder, flushed to disk, then
    /// renamed over the previous one, so a crash leaves one whole graph or none.
    pub fn save(&self) -> Result<()> {
        let _turn = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        let graph = self.read();
        let staging = self.dir.join(format!("{CURRENT}.new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        if graph.points > 0 {
            graph
                .hnsw
                .file_dump(&staging, BASENAME)
                .map_err(|e| Error::Vectors(format!("saving the vector graph failed: {e}")))?;
        }
        let manifest = Manifest {
            generation: graph.generation,
            dimension: self.dimension,
            points: graph.points,
            tombstones: graph.tombstones.iter().map(|&id| id as ChunkId).collect(),
        };
        let manifest_path = staging.join(MANIFEST);
        let text = serde_json::to_vec(&manifest).map_err(|e| Error::Vectors(e.to_string()))?;
        std::fs::write(&manifest_path, text).map_err(|e| Error::io(&manifest_path, e))?;
        for entry in std::fs::read_dir(&staging).map_err(|e| Error::io(&staging, e))? {
            let path = entry.map_err(|e| Error::io(&staging, e))?.path();
            sync(&path)?;
        }
        sync(&staging)?;
        let current = self.dir.join(CURRENT);
        let previous = self.dir.join(format!("{CURRENT}.old"));
        let _ = std::fs::remove_dir_all(&previous);
        if current.exists() {
            std::fs::rename(&current, &previous).map_err(|e| Error::io(&current, e))?;
        }
        std::fs::rename(&staging, &current).map_err(|e| Error::io(&staging, e))?;
        sync(&self.dir)?;
        let _ = std::fs::remove_dir_all(&previous);
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Graph> {
        self.graph.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Graph> {
        self.graph.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A chunk found by a moved query (see [`VectorIndex::search_moved`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MovedHit {
    pub chunk_id: ChunkId,
    /// Cosine similarity to the moved query.
    pub moved_similarity: f32,
    /// Cosine similarity to the query before it was moved.
    pub similarity: f32,
}

/// The vectors of the live points among `ids`, read from every point: cheap beside an
/// exact search, about a millisecond per hundred thousand points otherwise.
fn live_vectors(graph: &Graph, ids: &[ChunkId]) -> HashMap<ChunkId, Vec<f32>> {
    let wanted: HashSet<usize> = ids
        .iter()
        .map(|&id| chunk_key(id))
        .filter(|key| !graph.tombstones.contains(key))
        .collect();
    if wanted.is_empty() {
        return HashMap::new();
    }
    graph
        .hnsw
        .get_point_indexation()
        .into_iter()
        .filter(|point| wanted.contains(&point.get_origin_id()))
        .map(|point| (point.get_origin_id() as ChunkId, point.get_v().to_vec()))
        .collect()
}

/// The `k` points nearest to `query` among those `include` accepts, by comparing each.
fn exact_search(
    graph: &Graph,
    query: &[f32],
    k: usize,
    include: impl Fn(&usize) -> bool,
) -> Vec<(ChunkId, f32)> {
    let mut scored: Vec<(usize, f32)> = graph
        .hnsw
        .get_point_indexation()
        .into_iter()
        .filter(|point| include(&point.get_origin_id()))
        .map(|point| (point.get_origin_id(), UnitCosine.eval(query, point.get_v())))
        .collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
        .into_iter()
        .map(|(id, distance)| (i64::try_from(id).unwrap_or(i64::MAX), 1.0 - distance))
        .collect()
}

fn build(vectors: Vec<(ChunkId, Vec<f32>)>, generation: i64) -> Graph {
    let mut graph = Graph::empty(vectors.len());
    graph.insert(&vectors);
    graph.generation = generation;
    graph
}

/// Loads the saved graph, or says why it cannot be used.
fn load(dir: &Path, dimension: usize, generation: i64) -> std::result::Result<Graph, String> {
    let folder = dir.join(CURRENT);
    let manifest_path = folder.join(MANIFEST);
    let manifest: Manifest = match std::fs::read(&manifest_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("its manifest is damaged ({e})"))?,
        Err(_) => return Err("there is no saved graph".into()),
    };
    if manifest.dimension != dimension {
        return Err(format!(
            "it holds {}-dimensional vectors, the embedder makes {dimension}",
            manifest.dimension
        ));
    }
    if manifest.generation != generation {
        return Err(format!(
            "it is stale (generation {}, the catalog is at {generation})",
            manifest.generation
        ));
    }
    let tombstones = manifest.tombstones.iter().map(|&id| chunk_key(id)).collect();
    if manifest.points == 0 {
        let mut graph = Graph::empty(0);
        graph.generation = generation;
        return Ok(graph);
    }
    // hnsw_rs ties a loaded graph to its loader's lifetime; the loader is a few
    // bytes and is kept for the life of the process.
    let loaded = panic::catch_unwind(AssertUnwindSafe(|| {
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(&folder, BASENAME)));
        loader.load_hnsw::<f32, UnitCosine>()
    }));
    let hnsw = match loaded {
        Ok(Ok(hnsw)) => hnsw,
        Ok(Err(e)) => return Err(format!("it cannot be read ({e})")),
        Err(_) => return Err("it is damaged".into()),
    };
    if hnsw.get_nb_point() != manifest.points {
        return Err(format!(
            "it holds {} points, its manifest says {}",
            hnsw.get_nb_point(),
            manifest.points
        ));
    }
    Ok(Graph {
        hnsw,
        points: manifest.points,
        tombstones,
        generation,
    })
}

fn sync(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn chunk_key(id: ChunkId) -> usize {
    usize::try_from(id).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_unit_vectors_are_at_distance_zero_never_below() {
        let v: Vec<f32> = (0..384).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let v: Vec<f32> = v.iter().map(|x| x / norm).collect();
        assert!(UnitCosine.eval(&v, &v) < 1e-6);
        let opposite: Vec<f32> = v.iter().map(|x| -x).collect();
        assert!((UnitCosine.eval(&v, &opposite) - 2.0).abs() < 1e-5);
    }

    #[test]
    fn a_moved_search_ranks_by_the_moved_query_and_reports_similarity_to_the_query_itself() {
        let dir = tempfile::tempdir().unwrap();
        let unit = |v: [f32; 3]| -> Vec<f32> {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect()
        };
        let vectors = vec![
            (1, unit([1.0, 0.0, 0.0])),
            (2, unit([0.9, 0.1, 0.0])),
            (3, unit([0.0, 1.0, 0.0])),
            (4, unit([0.1, 0.9, 0.1])),
            (5, unit([0.0, 0.0, 1.0])),
        ];
        let index = VectorIndex::build(dir.path(), 3, vectors.clone(), 1).unwrap();
        let query = unit([1.0, 0.0, 0.0]);
        let mut given = Vec::new();
        let towards_second_axis = |passages: &[Vec<f32>]| {
            given = passages.to_vec();
            Some(unit([0.0, 1.0, 0.0]))
        };
        let hits = index.search_moved(&query, &[3], towards_second_axis, 2, None);
        assert_eq!(
            given,
            vec![unit([0.0, 1.0, 0.0])],
            "the chosen chunk's own vector"
        );
        let ids: Vec<ChunkId> = hits.iter().map(|h| h.chunk_id).collect();
        assert_eq!(ids, [3, 4], "ranked by the moved query");
        for hit in &hits {
            let vector = &vectors.iter().find(|(id, _)| *id == hit.chunk_id).unwrap().1;
            let expected: f32 = query.iter().zip(vector).map(|(a, b)| a * b).sum();
            assert!((hit.similarity - expected).abs() < 1e-5, "{hit:?}");
        }
        // Within a scope, only its chunks; a removed chunk is neither found nor moved towards.
        let odd = |chunk: ChunkId| chunk % 2 == 1;
        let hits = index.search_moved(&query, &[3], |_| Some(unit([0.0, 1.0, 0.0])), 2, Some(&odd));
        assert!(hits.iter().all(|h| h.chunk_id % 2 == 1), "{hits:?}");
        index.update(&[], &[3], 2);
        let mut given = vec![vec![0.0]];
        let hits = index.search_moved(
            &query,
            &[3, 99],
            |passages| {
                given = passages.to_vec();
                None
            },
            2,
            None,
        );
        assert!(given.is_empty() && hits.is_empty());
    }

    #[test]
    fn past_the_exact_search_size_the_graph_finds_what_exact_search_finds() {
        let unit = |seed: u64| -> Vec<f32> {
            let mut state = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v: Vec<f32> = (0..16)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    ((state >> 33) % 2001) as f32 - 1000.0
                })
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect()
        };
        let vectors: Vec<(ChunkId, Vec<f32>)> = (0..400).map(|i| (i, unit(i as u64))).collect();
        let (exact_dir, graph_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let exact = VectorIndex::build(exact_dir.path(), 16, vectors.clone(), 1).unwrap();
        let mut walked = VectorIndex::build(graph_dir.path(), 16, vectors, 1).unwrap();
        walked.exact_up_to = 0;
        let query = unit(10_000);
        let ids = |hits: &[(ChunkId, f32)]| hits.iter().map(|h| h.0).collect::<Vec<_>>();
        assert_eq!(ids(&walked.search(&query, 10)), ids(&exact.search(&query, 10)));

        let towards = [7, 8];
        let mean = |passages: &[Vec<f32>]| {
            let mut moved = query.clone();
            for passage in passages {
                moved.iter_mut().zip(passage).for_each(|(m, p)| *m += p);
            }
            let n = moved.iter().map(|x| x * x).sum::<f32>().sqrt();
            Some(moved.iter().map(|x| x / n).collect())
        };
        let by_graph = walked.search_moved(&query, &towards, mean, 10, None);
        let by_scan = exact.search_moved(&query, &towards, mean, 10, None);
        assert_eq!(by_graph.len(), 10);
        for (graph_hit, scan_hit) in by_graph.iter().zip(&by_scan) {
            assert_eq!(graph_hit.chunk_id, scan_hit.chunk_id);
            assert!((graph_hit.moved_similarity - scan_hit.moved_similarity).abs() < 1e-5);
            assert!(
                (graph_hit.similarity - scan_hit.similarity).abs() < 1e-5,
                "the similarity to the query itself, read from the point found: {graph_hit:?} {scan_hit:?}"
            );
        }
        // A removed chunk is not found by the walk either.
        walked.update(&[], &[by_graph[0].chunk_id], 2);
        let after = walked.search_moved(&query, &towards, mean, 10, None);
        assert!(after.iter().all(|h| h.chunk_id != by_graph[0].chunk_id));
        assert_eq!(after[0].chunk_id, by_graph[1].chunk_id);
    }

    #[test]
    fn duplicate_vectors_are_inserted_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let unit = |seed: usize| -> Vec<f32> {
            let v: Vec<f32> = (0..16u64)
                .map(|i| (((i + 1) * (seed as u64 + 7) * 2_654_435_761) % 1000) as f32 - 500.0)
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect()
        };
        // The same passage in two files: identical vectors.
        let vectors: Vec<(ChunkId, Vec<f32>)> = (0..200).map(|i| (i, unit((i % 50) as usize))).collect();
        let index = VectorIndex::build(dir.path(), 16, vectors, 1).unwrap();
        let hits = index.search(&unit(3), 4);
        let ids: HashSet<ChunkId> = hits.iter().map(|h| h.0).collect();
        assert_eq!(ids, HashSet::from([3, 53, 103, 153]));
        index.update(&[], &[53], 2);
        assert!(index.search(&unit(3), 10).iter().all(|h| h.0 != 53));
        index.save().unwrap();
        let reloaded = VectorIndex::load(dir.path(), 16, 2).unwrap();
        assert!(reloaded.search(&unit(3), 10).iter().all(|h| h.0 != 53));
        assert_eq!(reloaded.live_points(), 199);
        assert!(
            VectorIndex::load(dir.path(), 16, 3).is_err(),
            "a stale graph is refused"
        );
    }
}
