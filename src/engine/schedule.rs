//! The scheduling rules as a pure ready queue (no I/O, no clock, no Context): which decided
//! steps may start now, which can no longer run and why. `execute` drives it with real steps;
//! the rules are table-tested here.
//!
//! - A step waits for its selected needs; a need that did not complete (failed or not run)
//!   means the step does not run — except a runs-last step (`verify`), which reports on
//!   whatever is there.
//! - When `validate` runs, every other step waits for it (the validate gate).
//! - A runs-last step waits for every other selected step.
//! - At most `limit` steps run at once; after a cancel nothing new starts.

use crate::graph::StepId;
use std::collections::{HashMap, HashSet};

/// What became of a step the queue will not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Start it now.
    Start(StepId),
    /// It will not run, and why.
    NotRun(StepId, String),
}

#[derive(Debug)]
pub struct Queue {
    /// Steps to run, in graph order.
    pending: Vec<StepId>,
    needs: HashMap<StepId, Vec<StepId>>,
    /// Settled steps: whether each lets its dependents go ahead.
    settled: HashMap<StepId, bool>,
    running: HashSet<StepId>,
    limit: usize,
    cancelled: bool,
}

/// What `id` waits for in a run that decided `selected` and runs `to_run`: its graph needs
/// among the selected; validate, when validate runs (the gate); and, for a runs-last step,
/// every other selected step.
pub fn waits_for(id: StepId, selected: &[StepId], to_run: &[StepId]) -> Vec<StepId> {
    let mut needs: Vec<StepId> = id
        .def()
        .needs
        .iter()
        .copied()
        .filter(|n| selected.contains(n))
        .collect();
    if to_run.contains(&StepId::Validate) && id != StepId::Validate {
        needs.push(StepId::Validate);
    }
    if id.def().runs_last {
        needs.extend(selected.iter().copied().filter(|s| !s.def().runs_last));
    }
    needs
}

impl Queue {
    /// `selected`: every decided step (run, skip or failed decision); `to_run`: those that
    /// run, in order; `settled`: the others and whether they satisfy dependents (a skip
    /// does, a failed decision does not).
    pub fn new(
        selected: &[StepId],
        to_run: &[StepId],
        settled: &[(StepId, bool)],
        limit: usize,
    ) -> Queue {
        let needs = to_run
            .iter()
            .map(|&id| (id, waits_for(id, selected, to_run)))
            .collect();
        Queue {
            pending: to_run.to_vec(),
            needs,
            settled: settled.iter().copied().collect(),
            running: HashSet::new(),
            limit: limit.max(1),
            cancelled: false,
        }
    }

    /// Everything that can be said now: steps that start (within the limit) and steps that
    /// will never run. Call again after each `finish` or `cancel`.
    pub fn next(&mut self) -> Vec<Verdict> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let id = self.pending[i];
            if self.cancelled {
                self.pending.remove(i);
                self.settled.insert(id, false);
                out.push(Verdict::NotRun(id, "interrupted".into()));
                continue;
            }
            let needs = &self.needs[&id];
            let failed_need = needs
                .iter()
                .find(|n| self.settled.get(n) == Some(&false))
                .filter(|_| !id.def().runs_last);
            if let Some(n) = failed_need {
                let why = format!("needs {n}, which did not complete");
                self.pending.remove(i);
                self.settled.insert(id, false);
                out.push(Verdict::NotRun(id, why));
                continue;
            }
            let ready = needs.iter().all(|n| self.settled.contains_key(n));
            if ready && self.running.len() < self.limit {
                self.pending.remove(i);
                self.running.insert(id);
                out.push(Verdict::Start(id));
                continue;
            }
            i += 1;
        }
        if self.running.is_empty() {
            // Nothing runs and nothing can start: what is left never will.
            for id in self.pending.drain(..) {
                self.settled.insert(id, false);
                out.push(Verdict::NotRun(id, "its needs did not complete".into()));
            }
        }
        out
    }

    /// A started step ended; `ok`: its dependents may go ahead.
    pub fn finish(&mut self, id: StepId, ok: bool) {
        self.running.remove(&id);
        self.settled.insert(id, ok);
    }

    /// Start nothing new (an interrupt); running steps still finish.
    pub fn cancel(&mut self) {
        self.cancelled = true;
    }

    /// Nothing runs and nothing is left to decide.
    pub fn is_done(&self) -> bool {
        self.running.is_empty() && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepId::*;

    fn starts(v: &[Verdict]) -> Vec<StepId> {
        v.iter()
            .filter_map(|x| match x {
                Verdict::Start(id) => Some(*id),
                _ => None,
            })
            .collect()
    }

    fn not_run(v: &[Verdict]) -> Vec<(StepId, String)> {
        v.iter()
            .filter_map(|x| match x {
                Verdict::NotRun(id, why) => Some((*id, why.clone())),
                _ => None,
            })
            .collect()
    }

    /// Run the queue to the end, finishing started steps in start order; `fail` fail.
    /// Returns the start waves and every not-run verdict.
    fn drive(
        to_run: &[StepId],
        settled: &[(StepId, bool)],
        fail: &[StepId],
        limit: usize,
    ) -> (Vec<Vec<StepId>>, Vec<(StepId, String)>) {
        let mut selected: Vec<StepId> = to_run.to_vec();
        selected.extend(settled.iter().map(|(id, _)| *id));
        let mut q = Queue::new(&selected, to_run, settled, limit);
        let (mut waves, mut skipped) = (Vec::new(), Vec::new());
        let mut running: Vec<StepId> = Vec::new();
        loop {
            let v = q.next();
            let s = starts(&v);
            skipped.extend(not_run(&v));
            if !s.is_empty() {
                waves.push(s.clone());
            }
            running.extend(s);
            if running.is_empty() {
                assert!(q.is_done());
                break;
            }
            let id = running.remove(0);
            q.finish(id, !fail.contains(&id));
        }
        (waves, skipped)
    }

    #[test]
    fn the_rules_as_a_table() {
        struct Case {
            name: &'static str,
            to_run: &'static [StepId],
            settled: &'static [(StepId, bool)],
            fail: &'static [StepId],
            limit: usize,
            first_wave: &'static [StepId],
            not_run: &'static [(StepId, &'static str)],
        }
        let cases = [
            Case {
                name: "independent steps start together up to the limit",
                to_run: &[Irsa, Secrets, HelmRepos, Namespaces],
                settled: &[],
                fail: &[],
                limit: 4,
                first_wave: &[Irsa, Secrets, HelmRepos, Namespaces],
                not_run: &[],
            },
            Case {
                name: "the limit holds",
                to_run: &[Irsa, Secrets, HelmRepos, Namespaces],
                settled: &[],
                fail: &[],
                limit: 2,
                first_wave: &[Irsa, Secrets],
                not_run: &[],
            },
            Case {
                name: "the validate gate: everything waits for validate",
                to_run: &[Validate, Irsa, Namespaces],
                settled: &[],
                fail: &[],
                limit: 4,
                first_wave: &[Validate],
                not_run: &[],
            },
            Case {
                name: "a failed validate stops everything",
                to_run: &[Validate, Irsa, Namespaces],
                settled: &[],
                fail: &[Validate],
                limit: 4,
                first_wave: &[Validate],
                not_run: &[
                    (Irsa, "needs validate, which did not complete"),
                    (Namespaces, "needs validate, which did not complete"),
                ],
            },
            Case {
                name: "a failure stops its dependents, and theirs, not its neighbours",
                to_run: &[HelmRepos, Namespaces, Jaeger, Irsa],
                settled: &[],
                fail: &[Namespaces],
                limit: 4,
                first_wave: &[HelmRepos, Namespaces, Irsa],
                not_run: &[(Jaeger, "needs namespaces, which did not complete")],
            },
            Case {
                name: "a skipped need satisfies, a failed decision does not",
                to_run: &[Jaeger, ExternalSecrets],
                settled: &[(HelmRepos, true), (Namespaces, true), (Irsa, false)],
                fail: &[],
                limit: 4,
                first_wave: &[Jaeger],
                not_run: &[(ExternalSecrets, "needs irsa, which did not complete")],
            },
            Case {
                name: "runs-last waits for everything and runs even after a failure",
                to_run: &[Irsa, Namespaces, Verify],
                settled: &[],
                fail: &[Irsa],
                limit: 4,
                first_wave: &[Irsa, Namespaces],
                not_run: &[],
            },
        ];
        for c in cases {
            let (waves, nr) = drive(c.to_run, c.settled, c.fail, c.limit);
            assert_eq!(waves[0], c.first_wave, "{}: first wave", c.name);
            let want: Vec<(StepId, String)> = c
                .not_run
                .iter()
                .map(|(id, why)| (*id, why.to_string()))
                .collect();
            assert_eq!(nr, want, "{}: not run", c.name);
            let started: usize = waves.iter().map(Vec::len).sum();
            assert_eq!(
                started + nr.len(),
                c.to_run.len(),
                "{}: every step is decided",
                c.name
            );
        }
    }

    #[test]
    fn runs_last_starts_only_after_every_other_step() {
        let (waves, _) = drive(&[Verify, Irsa, Namespaces], &[], &[], 4);
        assert_eq!(waves.last().unwrap(), &vec![Verify]);
        assert!(!waves[0].contains(&Verify));
    }

    #[test]
    fn after_a_cancel_nothing_new_starts_and_running_steps_finish() {
        let selected = [Irsa, Secrets, Namespaces, Jaeger, HelmRepos];
        let mut q = Queue::new(&selected, &selected, &[], 1);
        assert_eq!(starts(&q.next()), vec![Irsa]);
        q.cancel();
        let v = q.next();
        assert!(starts(&v).is_empty());
        assert_eq!(
            not_run(&v).iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![Secrets, Namespaces, Jaeger, HelmRepos]
        );
        assert!(not_run(&v).iter().all(|(_, why)| why == "interrupted"));
        assert!(!q.is_done(), "irsa still runs");
        q.finish(Irsa, true);
        assert!(q.next().is_empty());
        assert!(q.is_done());
    }
}
