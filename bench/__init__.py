"""promkit's benchmarks: `python -m bench` (or `nox -s bench`) prints the figures table.

Figures, each beside its baseline or floor (see docs/performance.md):
1. verify.all on a healthy server vs the runbook's sequential curls;
2. the detection delay of --wait;
3. time to green from a stopped compose stack, split into phases;
4. verify.targets against a Prometheus scraping 1,000 and 10,000 targets;
5. start-up of `inv --list` and `inv verify.all --help`;
6. the card's command on a first run;
7. the card's Kubernetes command on a real node;
8. verify.discovery over 1,000 annotated pods;
9. the evidence report with its screenshots;
10. promkit serve: CPU and memory per round;
11. alert delivery, and promkit's detection of it;
12. the upgrade rehearsal against its floor.
"""
