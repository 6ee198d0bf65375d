"""What every test suite and the bench share: loopback ports, HTTP, polling, and real
processes (Prometheus 2.x/3.x, exporters, Redis, the sample app) started through sh
and stopped by their pid.

    from tests.support import free_port, wait_for, PrometheusServer

Its modules imported by name: ``mockctx`` (the unit tests' Invoke MockContext), ``stack``
(the e2e tests' compose stack) and ``kube`` (the e2e_k8s harness' throwaway cluster).
"""

from tests.support.loopback import Answer, Seen, Server, answering, reply, serving
from tests.support.poll import WaitTimeout, wait_for
from tests.support.ports import free_port, port_answers, taken_port
from tests.support.processes import (
    ROOT,
    Background,
    Completed,
    env_without,
    inv,
    inv_argv,
    inv_in_background,
    run,
    stop_processes,
)
from tests.support.prometheus import (
    Exporter,
    MissingBinary,
    Processes,
    PrometheusServer,
    config,
    prometheus_binaries,
    require_binary,
    scrape_config,
)
from tests.support.web import active_targets, api_data, get, request, status

__all__ = [
    "ROOT",
    "Answer",
    "Background",
    "Completed",
    "Exporter",
    "MissingBinary",
    "Processes",
    "PrometheusServer",
    "Seen",
    "Server",
    "WaitTimeout",
    "active_targets",
    "answering",
    "api_data",
    "config",
    "env_without",
    "free_port",
    "get",
    "inv",
    "inv_argv",
    "inv_in_background",
    "port_answers",
    "prometheus_binaries",
    "reply",
    "request",
    "require_binary",
    "run",
    "scrape_config",
    "serving",
    "status",
    "stop_processes",
    "taken_port",
    "wait_for",
]
