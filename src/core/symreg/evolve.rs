//! Regularised (age-based) evolution as SymbolicRegression.jl runs it (RegularizedEvolution.jl,
//! Population.jl, SingleIteration.jl): populations evolve independently for a number of cycles
//! (tournaments with the geometric selection rule, mutation or crossover, the child replacing
//! the *oldest* member); after each iteration every member is simplified, a share has its
//! constants fitted, members migrate between populations and from the hall of fame, and the
//! hall of fame takes the best at each complexity.
//!
//! Each population draws from its own random stream, so the populations can run on any
//! number of threads and a seed gives one result.

use super::expr::Expr;
use super::fit::{ConstantFit, Dataset};
use super::mutate::{crossover, mutate, random_tree, within_limits};
use super::options::SearchOptions;
use super::pareto::HallOfFame;
use super::simplify::simplify;
use crate::core::nn::parallel::for_each_mut;
use crate::core::rng::RngStream;

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub expr: Expr,
    pub loss: f64,
    /// When it was born (a per-population counter): the oldest is replaced.
    pub birth: u64,
}

#[derive(Debug, Clone)]
pub struct Population {
    pub members: Vec<Member>,
    rng: RngStream,
    next_birth: u64,
    /// Complexity counts of members born here this iteration (for the adaptive parsimony).
    born_sizes: Vec<f64>,
    evaluations: u64,
}

impl Population {
    fn born(&mut self) -> u64 {
        self.next_birth += 1;
        self.next_birth
    }

    /// How many births ago member `i` was born (0: the newest).
    pub fn age(&self, i: usize) -> u64 {
        self.next_birth.saturating_sub(self.members[i].birth)
    }

    /// Index of the oldest member, and of the oldest but `except`.
    fn oldest(&self, except: Option<usize>) -> usize {
        (0..self.members.len())
            .filter(|i| Some(*i) != except)
            .min_by_key(|i| self.members[*i].birth)
            .expect("a population has members")
    }
}

/// The cost a tournament ranks by: loss over the baseline, plus parsimony per node.
fn cost(loss: f64, size: usize, normaliser: f64, options: &SearchOptions) -> f64 {
    loss / normaliser + options.parsimony * size as f64
}

/// A member's constant fit in progress (the page's slices).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTidy {
    k: usize,
    i: usize,
    fit: ConstantFit,
}

pub struct Search {
    pub options: SearchOptions,
    pub data: Dataset,
    pub populations: Vec<Population>,
    pub hall_of_fame: HallOfFame,
    /// Normalised frequency of each complexity among recent members.
    frequencies: Vec<f64>,
    normaliser: f64,
    rng: RngStream,
    pub iterations_done: usize,
    /// Expression evaluations on the whole data set (losses, and each Jacobian pass).
    pub evaluations: u64,
}

impl Search {
    pub fn new(options: SearchOptions, data: Dataset) -> Result<Self, String> {
        options.validate()?;
        let nvars = data.dim;
        let normaliser = data.baseline().max(0.01);
        let mut populations = Vec::new();
        let mut evaluations = 0;
        for p in 0..options.populations {
            let mut rng = RngStream::new(options.seed ^ 0x7379_6d72, p as u64);
            let mut members = Vec::new();
            for b in 0..options.population_size {
                let size = 1 + rng.below(5);
                let expr = random_tree(&mut rng, &options.operators, nvars, size);
                let loss = data.loss(&expr);
                evaluations += 1;
                members.push(Member { expr, loss, birth: b as u64 });
            }
            let sizes = vec![0.0; options.maxsize + 1];
            populations.push(Population {
                members,
                rng,
                next_birth: options.population_size as u64,
                born_sizes: sizes,
                evaluations: 0,
            });
        }
        let mut hall_of_fame = HallOfFame::new(options.maxsize);
        for m in populations.iter().flat_map(|p| &p.members) {
            hall_of_fame.consider(&m.expr, m.loss);
        }
        let rng = RngStream::new(options.seed ^ 0x6d69_6772, 0);
        let mut search = Search {
            frequencies: vec![0.0; options.maxsize + 1],
            options,
            data,
            populations,
            hall_of_fame,
            normaliser,
            rng,
            iterations_done: 0,
            evaluations,
        };
        search.refresh_frequencies();
        Ok(search)
    }

    /// The complexities' frequencies among all members (every size counted once more, so
    /// none is zero).
    fn refresh_frequencies(&mut self) {
        let mut counts = vec![1.0; self.options.maxsize + 1];
        for m in self.populations.iter().flat_map(|p| &p.members) {
            counts[m.expr.complexity().min(self.options.maxsize)] += 1.0;
        }
        for p in &self.populations {
            counts.iter_mut().zip(&p.born_sizes).for_each(|(c, b)| *c += b);
        }
        let total: f64 = counts.iter().sum();
        self.frequencies = counts.into_iter().map(|c| c / total).collect();
    }

    /// One iteration: every population's cycles (on the machine's threads), then simplify,
    /// fit constants, migrate and update the hall of fame.
    pub fn iterate(&mut self) {
        self.evolve_cycles(0, self.options.cycles);
        self.end_iteration();
    }

    /// Cycles `first .. first + count` of the current iteration, for every population (the
    /// first part of an iteration). The page runs an iteration a few cycles per frame; the
    /// cycle's index sets the annealing temperature, so slices give the same search.
    pub fn evolve_cycles(&mut self, first: usize, count: usize) {
        let (options, data, frequencies, normaliser) = (&self.options, &self.data, &self.frequencies, self.normaliser);
        let cycles = options.cycles;
        for_each_mut(&mut self.populations, 1, |_, pop| {
            for cycle in first..first + count {
                let temperature =
                    if options.annealing { 1.0 - cycle as f64 / cycles.max(2).saturating_sub(1) as f64 } else { 1.0 };
                evolve_cycle(pop, options, data, frequencies, normaliser, temperature);
            }
        });
        for p in &mut self.populations {
            self.evaluations += p.evaluations;
            p.evaluations = 0;
        }
    }

    /// The end of an iteration: simplify every member, fit the constants of a share of them,
    /// update the hall of fame, migrate.
    pub fn end_iteration(&mut self) {
        let (options, data) = (&self.options, &self.data);
        for_each_mut(&mut self.populations, 1, |_, pop| tidy(pop, options, data));
        self.close_iteration();
    }

    /// The end of an iteration for member `i` of population `k` alone (simplify, maybe fit
    /// its constants): the page tidies members in order, then calls `close_iteration`.
    pub fn tidy_member(&mut self, k: usize, i: usize) {
        if let Some(mut pending) = self.begin_tidy(k, i) {
            while !self.advance_tidy(&mut pending) {}
        }
    }

    /// Simplifies member `i` of population `k`; the constant fit due for it, if one is, to run
    /// a start per slice with `advance_tidy`.
    pub fn begin_tidy(&mut self, k: usize, i: usize) -> Option<PendingTidy> {
        let pop = self.populations.get_mut(k).filter(|p| i < p.members.len())?;
        let fit = begin_tidy(pop, i, &self.options, &self.data);
        self.evaluations += pop.evaluations;
        pop.evaluations = 0;
        fit.map(|fit| PendingTidy { k, i, fit })
    }

    /// One start of a pending fit; true (and the fit applied) when it is done.
    pub fn advance_tidy(&mut self, pending: &mut PendingTidy) -> bool {
        let Some(pop) = self.populations.get_mut(pending.k) else { return true };
        pending.fit.advance(&self.data, &mut pop.rng);
        if !pending.fit.done() {
            return false;
        }
        apply_fit(pop, pending.i, pending.fit.clone());
        // Counted at once, so that a rate measured during the tidying sees it.
        self.evaluations += pop.evaluations;
        pop.evaluations = 0;
        true
    }

    /// The end of an iteration once every population is tidied: the hall of fame, migration
    /// and the complexities' frequencies.
    pub fn close_iteration(&mut self) {
        for p in &mut self.populations {
            self.evaluations += p.evaluations;
            p.evaluations = 0;
            for m in &p.members {
                self.hall_of_fame.consider(&m.expr, m.loss);
            }
        }
        self.migrate();
        self.refresh_frequencies();
        for p in &mut self.populations {
            p.born_sizes.iter_mut().for_each(|b| *b = 0.0);
        }
        self.iterations_done += 1;
    }

    /// Each member is replaced with probability `migration` by one of the other populations'
    /// best twelve, and with probability `hof_migration` by a member of the front.
    fn migrate(&mut self) {
        let best: Vec<Vec<Member>> = self
            .populations
            .iter()
            .map(|p| {
                let mut m = p.members.clone();
                m.sort_by(|a, b| a.loss.total_cmp(&b.loss));
                m.truncate(12);
                m
            })
            .collect();
        let front = self.hall_of_fame.front();
        for (k, pop) in self.populations.iter_mut().enumerate() {
            let pool: Vec<&Member> =
                best.iter().enumerate().filter(|(j, _)| *j != k).flat_map(|(_, m)| m.iter()).collect();
            for i in 0..pop.members.len() {
                let u = self.rng.uniform();
                let incoming = if u < self.options.migration && !pool.is_empty() {
                    let m = pool[self.rng.below(pool.len())];
                    Some((m.expr.clone(), m.loss))
                } else if u < self.options.migration + self.options.hof_migration && !front.is_empty() {
                    let e = &front[self.rng.below(front.len())];
                    Some((e.expr.clone(), e.loss))
                } else {
                    None
                };
                if let Some((expr, loss)) = incoming {
                    let birth = pop.born();
                    pop.members[i] = Member { expr, loss, birth };
                }
            }
        }
    }

    /// The lowest loss in the hall of fame.
    pub fn best_loss(&self) -> f64 {
        self.hall_of_fame.entries().map(|(_, e)| e.loss).fold(f64::INFINITY, f64::min)
    }
}

/// Simplifies every member of `pop` and fits the constants of a random share of them.
fn tidy(pop: &mut Population, options: &SearchOptions, data: &Dataset) {
    for i in 0..pop.members.len() {
        tidy_member(pop, i, options, data);
    }
}

/// Simplifies member `i` and, with the options' probability, fits its constants.
fn tidy_member(pop: &mut Population, i: usize, options: &SearchOptions, data: &Dataset) {
    if let Some(mut fit) = begin_tidy(pop, i, options, data) {
        while !fit.done() {
            fit.advance(data, &mut pop.rng);
        }
        apply_fit(pop, i, fit);
    }
}

/// Simplifies member `i`; the constant fit due for it, if one is (drawn from the
/// population's stream, as the whole tidying draws it).
fn begin_tidy(pop: &mut Population, i: usize, options: &SearchOptions, data: &Dataset) -> Option<ConstantFit> {
    let simpler = simplify(&pop.members[i].expr);
    if simpler != pop.members[i].expr {
        pop.members[i].loss = data.loss(&simpler);
        pop.members[i].expr = simpler;
        pop.evaluations += 1;
    }
    let has_constants = !pop.members[i].expr.constants().is_empty();
    (has_constants && pop.rng.uniform() < options.optimize_probability)
        .then(|| ConstantFit::new(&pop.members[i].expr, options.optimizer_iterations, options.optimizer_restarts))
}

fn apply_fit(pop: &mut Population, i: usize, fit: ConstantFit) {
    pop.evaluations += fit.evaluations as u64;
    if fit.best_loss < pop.members[i].loss {
        pop.members[i].expr = fit.best;
        pop.members[i].loss = fit.best_loss;
    }
}

/// Tournament: `tournament_size` members drawn without replacement, ranked by cost (scaled by
/// exp(adaptive parsimony × frequency of their size)); the k-th best wins with probability
/// p (1 − p)^k, normalised.
fn best_of_sample(pop: &mut Population, options: &SearchOptions, frequencies: &[f64], normaliser: f64) -> usize {
    let n = pop.members.len();
    let mut sample: Vec<usize> = (0..n).collect();
    for i in 0..options.tournament_size.min(n) {
        let j = i + pop.rng.below(n - i);
        sample.swap(i, j);
    }
    sample.truncate(options.tournament_size.min(n));
    let adjusted = |i: usize| {
        let m = &pop.members[i];
        let size = m.expr.complexity();
        let c = cost(m.loss, size, normaliser, options);
        if options.adaptive_parsimony > 0.0 {
            c * (options.adaptive_parsimony * frequencies.get(size).copied().unwrap_or(0.0)).exp()
        } else {
            c
        }
    };
    let mut ranked: Vec<(f64, usize)> = sample.iter().map(|&i| (adjusted(i), i)).collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let p = options.tournament_p;
    if p >= 1.0 {
        return ranked[0].1;
    }
    let weights: Vec<f64> = (0..ranked.len()).map(|k| p * (1.0 - p).powi(k as i32)).collect();
    let total: f64 = weights.iter().sum();
    let mut u = pop.rng.uniform() * total;
    for (k, w) in weights.iter().enumerate() {
        if u < *w {
            return ranked[k].1;
        }
        u -= w;
    }
    ranked[0].1
}

/// Tries a mutation (up to ten times for one within the limits); Some((child, loss)) when
/// accepted.
fn next_generation(
    pop: &mut Population,
    parent: usize,
    options: &SearchOptions,
    data: &Dataset,
    frequencies: &[f64],
    normaliser: f64,
    temperature: f64,
) -> Option<(Expr, f64)> {
    let nvars = data.dim;
    let parent = pop.members[parent].clone();
    let child = (0..10).find_map(|_| {
        let (child, _) = mutate(&parent.expr, &mut pop.rng, options, nvars, temperature);
        within_limits(&child, options).then_some(child)
    })?;
    let loss = data.loss(&child);
    pop.evaluations += 1;
    let mut probability = 1.0;
    if options.annealing {
        let delta = cost(loss, child.complexity(), normaliser, options)
            - cost(parent.loss, parent.expr.complexity(), normaliser, options);
        probability *= (-delta / (temperature.max(1e-12) * options.alpha)).exp();
    }
    if options.adaptive_parsimony > 0.0 {
        let freq = |size: usize| frequencies.get(size).copied().unwrap_or(1.0).max(1e-12);
        probability *= freq(parent.expr.complexity()) / freq(child.complexity());
    }
    if probability < 1.0 && pop.rng.uniform() > probability {
        return None;
    }
    Some((child, loss))
}

/// One cycle: ⌈n / tournament size⌉ tournaments, each giving a mutated child (or two children
/// of a crossover) that replace the oldest members.
fn evolve_cycle(
    pop: &mut Population,
    options: &SearchOptions,
    data: &Dataset,
    frequencies: &[f64],
    normaliser: f64,
    temperature: f64,
) {
    let rounds = pop.members.len().div_ceil(options.tournament_size);
    for _ in 0..rounds {
        if pop.rng.uniform() >= options.crossover {
            let winner = best_of_sample(pop, options, frequencies, normaliser);
            let Some((expr, loss)) = next_generation(pop, winner, options, data, frequencies, normaliser, temperature)
            else {
                continue;
            };
            let oldest = pop.oldest(None);
            let birth = pop.born();
            let size = expr.complexity().min(options.maxsize);
            pop.born_sizes[size] += 1.0;
            pop.members[oldest] = Member { expr, loss, birth };
        } else {
            let (a, b) = (
                best_of_sample(pop, options, frequencies, normaliser),
                best_of_sample(pop, options, frequencies, normaliser),
            );
            let (pa, pb) = (pop.members[a].expr.clone(), pop.members[b].expr.clone());
            let Some((ca, cb)) = (0..10).find_map(|_| {
                let (ca, cb) = crossover(&pa, &pb, &mut pop.rng);
                (within_limits(&ca, options) && within_limits(&cb, options)).then_some((ca, cb))
            }) else {
                continue;
            };
            let (la, lb) = (data.loss(&ca), data.loss(&cb));
            pop.evaluations += 2;
            let first = pop.oldest(None);
            let second = pop.oldest(Some(first));
            for (slot, expr, loss) in [(first, ca, la), (second, cb, lb)] {
                let birth = pop.born();
                pop.born_sizes[expr.complexity().min(options.maxsize)] += 1.0;
                pop.members[slot] = Member { expr, loss, birth };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::symreg::pareto::best;

    fn damped_linear(output: usize) -> Dataset {
        let mut rng = RngStream::new(5, 0);
        let points: Vec<[f64; 2]> = (0..500).map(|_| [4.0 * rng.uniform() - 2.0, 4.0 * rng.uniform() - 2.0]).collect();
        let y = points.iter().map(|p| if output == 0 { -p[1] } else { p[0] - 0.1 * p[1] }).collect();
        Dataset::new(&points, y).unwrap()
    }

    /// Age replacement: a child replaces the member with the smallest birth index, whatever
    /// its loss (the best member survives only while it is young).
    #[test]
    fn the_oldest_member_is_replaced() {
        let options = SearchOptions { populations: 1, population_size: 20, ..SearchOptions::cli_default() };
        let mut search = Search::new(options, damped_linear(0)).unwrap();
        let pop = &mut search.populations[0];
        pop.members[3].birth = 0;
        pop.members[0].birth = 5;
        pop.members[3].loss = 0.0; // the best, and the oldest
        let before: Vec<u64> = pop.members.iter().map(|m| m.birth).collect();
        let oldest = pop.oldest(None);
        assert_eq!(oldest, 3);
        assert_eq!(before.iter().min(), Some(&pop.members[oldest].birth));
        let normaliser = search.normaliser;
        let frequencies = search.frequencies.clone();
        let options = search.options.clone();
        let data = search.data.clone();
        let pop = &mut search.populations[0];
        // Cycles until a child is accepted: it sits where the oldest was.
        for _ in 0..50 {
            evolve_cycle(pop, &options, &data, &frequencies, normaliser, 1.0);
            if pop.members[3].birth != 0 {
                break;
            }
        }
        assert_ne!(pop.members[3].birth, 0, "the oldest was replaced");
        assert!(pop.members.iter().all(|m| m.birth > 0 || m.loss != 0.0));
    }

    /// A seed gives one result, whatever the threads.
    #[test]
    fn a_seed_gives_one_result() {
        let options = SearchOptions { populations: 4, iterations: 2, cycles: 20, ..SearchOptions::cli_default() };
        let run = || {
            let mut s = Search::new(options.clone(), damped_linear(1)).unwrap();
            s.iterate();
            s.iterate();
            (s.hall_of_fame.front().iter().map(|e| (e.complexity, e.loss.to_bits())).collect::<Vec<_>>(), s.evaluations)
        };
        assert_eq!(run(), run());
    }

    /// The page's slices (a few cycles at a time, then one member tidied at a time) give
    /// the search `iterate` gives, bit for bit, annealing on.
    #[test]
    fn slices_give_the_same_search_as_whole_iterations() {
        let options =
            SearchOptions { populations: 3, cycles: 7, annealing: true, seed: 4, ..SearchOptions::cli_default() };
        let fingerprint = |s: &Search| {
            let members: Vec<(String, u64, u64)> = s
                .populations
                .iter()
                .flat_map(|p| &p.members)
                .map(|m| (m.expr.to_string(), m.loss.to_bits(), m.birth))
                .collect();
            (members, s.evaluations, s.iterations_done)
        };
        let mut whole = Search::new(options.clone(), damped_linear(1)).unwrap();
        let mut sliced = Search::new(options, damped_linear(1)).unwrap();
        for _ in 0..2 {
            whole.iterate();
            for (first, count) in [(0, 2), (2, 1), (3, 4)] {
                sliced.evolve_cycles(first, count);
            }
            for k in 0..3 {
                for i in 0..27 {
                    sliced.tidy_member(k, i);
                }
            }
            sliced.close_iteration();
        }
        assert_eq!(fingerprint(&whole), fingerprint(&sliced));
        let ages: Vec<u64> = (0..27).map(|i| sliced.populations[0].age(i)).collect();
        assert_eq!(ages.iter().min(), Some(&0), "the newest member has age 0");
    }

    /// The exact field of damped-linear: −y is found at complexity ≤ 3 with loss < 1e-12 in a
    /// small search.
    #[test]
    fn a_small_search_finds_minus_y() {
        let options =
            SearchOptions { populations: 6, iterations: 6, cycles: 40, seed: 1, ..SearchOptions::cli_default() };
        let mut s = Search::new(options, damped_linear(0)).unwrap();
        for _ in 0..6 {
            s.iterate();
        }
        let front = s.hall_of_fame.front();
        let exact = front.iter().find(|e| e.loss < 1e-12).unwrap_or_else(|| panic!("{front:?}"));
        assert!(exact.complexity <= 3, "{}", exact.expr);
        assert_eq!(best(&front).unwrap().complexity, exact.complexity);
    }
}
