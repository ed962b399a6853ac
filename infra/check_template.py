#!/usr/bin/env python3
"""Offline checks for infra/template.yaml (no AWS account needed).

cfn-lint alone misses most SAM mistakes (since 1.54 it no longer runs the SAM
transform), so this script:

  1. lints the SAM template with cfn-lint,
  2. transforms it with aws-sam-translator (what CloudFormation does at deploy
     time) and lints the resulting CloudFormation JSON,
  3. checks invariants no linter knows about (queue/worker timing, DLQ wiring,
     partial batch responses, concurrency bounds, env vars the Rust code reads,
     secrets only via Secrets Manager, FIFO, who has a public URL, alarms and
     dashboard widgets on metrics the Lambda functions emit).

Invariants are evaluated on the transformed template, twice: with the
parameters' defaults and with samconfig.toml's parameter_overrides applied.

Usage (from the repository root, with the venv made by .ci/install-python-tools):
  .venv/bin/python infra/check_template.py              # all checks, one line each
  .venv/bin/python infra/check_template.py --self-test  # broken variants must each be caught
Exit status is 0 only when everything passed.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import shlex
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# The translator records metrics it never publishes and warns about it when they are dropped.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
# samtranslator needs a region to build ARNs; nothing is sent anywhere.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

try:
    import cfnlint.api
    from cfnlint.decode import decode_str
    from samtranslator.translator.transform import transform as sam_transform
except ImportError as err:  # pragma: no cover - environment problem, not a check failure
    sys.exit(f"missing Python tool ({err.name}): run .ci/install-python-tools, then use .venv/bin/python")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO / "infra" / "template.yaml"
DEFAULT_SAMCONFIG = REPO / "samconfig.toml"
LINT_REGION = "us-east-1"

# Names the Rust code reads that the Lambda functions must NOT get, with why.
LOCAL_RUNNER_ONLY = {
    "RESTAGER_LISTEN": "the `restager serve` listen address; Lambda has no listener (the Function URL is the front door)",
    "RESTAGER_DATA_DIR": "directory of the embedded queue and ledger; on AWS RESTAGER_QUEUE_URL and RESTAGER_LEDGER_TABLE select SQS and DynamoDB",
    "RESTAGER_HEADER_READ_TIMEOUT": "`restager serve`'s HTTP server; on AWS the Function URL front door reads requests",
    "RESTAGER_BODY_READ_TIMEOUT": "`restager serve`'s HTTP server; on AWS the Function URL front door reads requests",
    "RESTAGER_MAX_CONNECTIONS": "`restager serve`'s HTTP server; on AWS the Function URL front door holds connections",
    "RESTAGER_SHUTDOWN_GRACE": "`restager serve`'s SIGTERM handling; a Lambda invocation has its own deadline",
    "RESTAGER_LOG_FORMAT": "`restager`'s log format; the Lambda functions log as Lambda's runtime expects",
    "RESTAGER_TICK_INTERVAL": "`restager serve`'s timer that asks wave gates; on AWS the TickFunction's schedule does it",
    "RESTAGER_NOTICE_SECRET": "the secret `restager notify` signs with, on the sending side (CI); the receiver has RESTAGER_NOTICE_SECRETS",
    "RESTAGER_ADMIN_TOKEN": "guards `restager serve`'s admin API (GET /runs); the Lambda functions serve no admin routes",
    "RESTAGER_SERVER_URL": "where `restager status --server` finds a running `restager serve`; a client setting",
}

# Env vars holding credentials: only ever from a Secrets Manager dynamic reference
# (SSM SecureString references are not allowed in Lambda environment variables).
SECRET_VARS = (
    "CF_CLIENT_SECRET",
    "RESTAGER_GITHUB_SECRETS",
    "RESTAGER_NOTICE_SECRETS",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
)
SECRET_REF_PREFIX = "{{resolve:secretsmanager:"

ENV_NAME = re.compile(r'"((?:CF|RESTAGER|SLACK)_[A-Z0-9_]+)"')
CODE_DIRS = ("shared/src", "functions")
VISIBILITY_FACTOR = 6  # AWS guidance: visibility >= 6 x function timeout + batching window


class CheckFailed(Exception):
    """A problem with the template; the message says what and how to fix it."""


# ------------------------------------------------------------------------------------------------
# Loading and transforming


def load_sam(path: Path) -> dict:
    """Parses CloudFormation YAML/JSON (short-form tags become long form)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise CheckFailed(f"cannot read {path}: {err}") from err
    template, matches = decode_str(text)
    if matches or template is None:
        raise CheckFailed(f"{path} does not parse: " + "; ".join(str(m) for m in matches))
    # decode_str returns dict subclasses that carry line numbers; plain data is easier to mutate.
    return json.loads(json.dumps(template))


def transform(sam: dict) -> dict:
    """What CloudFormation's SAM transform produces, with local CodeUris swapped for s3:// ones."""

    class NoManagedPolicies:
        # The translator only asks for this to expand managed-policy *names*; ARNs need nothing.
        def load(self) -> dict:
            return {}

    tmpl = copy.deepcopy(sam)
    for res in tmpl.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            props = res.setdefault("Properties", {})
            uri = props.get("CodeUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                props["CodeUri"] = "s3://placeholder-bucket/placeholder.zip"
    try:
        return sam_transform(tmpl, {}, NoManagedPolicies())
    except Exception as err:  # the translator raises several unrelated types
        raise CheckFailed(f"SAM transform rejected the template: {err}") from err


def lint(path: Path) -> None:
    matches = cfnlint.api.lint_file(path, config=cfnlint.api.ManualArgs(regions=[LINT_REGION]))
    if matches:
        lines = [f"{m.rule.id} {m.message} ({path.name}:{m.linenumber})" for m in matches]
        raise CheckFailed(f"cfn-lint found {len(lines)} problem(s):\n      " + "\n      ".join(lines))


# ------------------------------------------------------------------------------------------------
# Parameters and intrinsic functions


@dataclass(frozen=True)
class Sym:
    """An unresolvable reference to a resource (Ref / Fn::GetAtt)."""

    kind: str  # "Ref" or "GetAtt"
    target: str
    attr: str = ""


@dataclass
class ParamSet:
    name: str  # "defaults" or "samconfig"
    values: dict[str, Any]
    stack_name: str


def param_defaults(sam: dict) -> dict[str, Any]:
    return {k: v.get("Default") for k, v in sam.get("Parameters", {}).items()}


def read_samconfig(path: Path) -> tuple[dict, dict[str, str], str]:
    """Returns (whole config, deploy parameter_overrides, stack name)."""
    try:
        cfg = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise CheckFailed(f"cannot read {path}: {err}") from err
    env = cfg.get("default", {})
    deploy = env.get("deploy", {}).get("parameters", {})
    glob = env.get("global", {}).get("parameters", {})
    raw = deploy.get("parameter_overrides", glob.get("parameter_overrides", ""))
    items = raw if isinstance(raw, list) else shlex.split(raw)
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise CheckFailed(f"{path.name}: parameter_overrides entry `{item}` is not Key=Value")
        overrides[key] = value
    stack = deploy.get("stack_name", glob.get("stack_name", "restager"))
    return cfg, overrides, stack


class Resolver:
    """Evaluates intrinsic functions against one parameter set."""

    def __init__(self, cfn: dict, params: ParamSet):
        self.cfn = cfn
        self.params = params
        self.pseudo = {
            "AWS::StackName": params.stack_name,
            "AWS::Region": LINT_REGION,
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.conditions = cfn.get("Conditions", {})

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise CheckFailed(f"condition {name} is not defined")
        return bool(self.value(self.conditions[name]))

    def value(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) != 1:
            return {k: self.value(x) for k, x in v.items()}
        ((fn, arg),) = v.items()
        if fn == "Ref":
            if arg in self.params.values:
                return self.params.values[arg]
            if arg in self.pseudo:
                return self.pseudo[arg]
            if arg == "AWS::NoValue":
                return None
            return Sym("Ref", arg)
        if fn == "Fn::GetAtt":
            target, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return Sym("GetAtt", target, attr)
        if fn == "Fn::If":
            cond, yes, no = arg
            return self.value(yes if self.condition(cond) else no)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(x) for x in arg)
        if fn == "Fn::Or":
            return any(self.value(x) for x in arg)
        if fn == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(m: re.Match) -> str:
                name = m.group(1)
                if name in local:
                    return str(self.value(local[name]))
                got = self.value({"Ref": name}) if "." not in name else Sym("GetAtt", *name.split(".", 1))
                return str(got) if not isinstance(got, Sym) else m.group(0)

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        return {fn: self.value(arg)}

    def integer(self, v: Any, what: str) -> int:
        got = self.value(v)
        try:
            return int(got)
        except (TypeError, ValueError):
            raise CheckFailed(f"{what} is `{got}`, not a number ({self.params.name})") from None


# ------------------------------------------------------------------------------------------------
# Locating the pieces in the transformed template


@dataclass
class Model:
    sam: dict
    cfn: dict
    template_dir: Path  # CodeUri is relative to the template's directory
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> cargo binary

    def resources(self, type_: str) -> dict[str, dict]:
        return {k: r for k, r in self.cfn.get("Resources", {}).items() if r.get("Type") == type_}

    def props(self, logical_id: str) -> dict:
        res = self.cfn.get("Resources", {}).get(logical_id)
        if res is None:
            raise CheckFailed(f"resource {logical_id} is missing")
        return res.get("Properties", {})

    def function_by_binary(self, binary: str) -> str:
        for lid, b in self.functions.items():
            if b == binary:
                return lid
        raise CheckFailed(
            f"no function builds the `{binary}` binary (Metadata.BuildProperties.Binary: {binary})"
        )

    def sqs_mappings(self) -> list[tuple[str, dict, str, str]]:
        """(mapping id, mapping props, queue id, function id) for each SQS event source."""
        out = []
        for lid, res in self.resources("AWS::Lambda::EventSourceMapping").items():
            p = res.get("Properties", {})
            src = p.get("EventSourceArn")
            fn = p.get("FunctionName")
            if isinstance(src, dict) and "Fn::GetAtt" in src and isinstance(fn, dict) and "Ref" in fn:
                queue = src["Fn::GetAtt"][0]
                if self.cfn["Resources"].get(queue, {}).get("Type") == "AWS::SQS::Queue":
                    out.append((lid, p, queue, fn["Ref"]))
        return out

    def worker_mapping(self) -> tuple[str, dict, str, str]:
        worker = self.function_by_binary("worker")
        found = [m for m in self.sqs_mappings() if m[3] == worker]
        if len(found) != 1:
            raise CheckFailed(
                f"expected exactly one SQS event source on {worker} (an Events entry of Type: SQS "
                f"whose Queue is !GetAtt <queue>.Arn), found {len(found)}"
            )
        return found[0]


def build_model(sam: dict, cfn: dict, template_dir: Path) -> Model:
    m = Model(sam=sam, cfn=cfn, template_dir=template_dir)
    for lid, res in sam.get("Resources", {}).items():
        if res.get("Type") == "AWS::Serverless::Function":
            binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            m.functions[lid] = binary
    return m


# ------------------------------------------------------------------------------------------------
# The invariants. Each takes the model and a resolver and raises CheckFailed.


def check_build(m: Model, r: Resolver) -> None:
    problems = []
    ws_members = workspace_binaries()
    for lid in m.functions:
        res = m.sam["Resources"][lid]
        meta = res.get("Metadata", {})
        binary = m.functions[lid]
        if meta.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{lid}: Metadata.BuildMethod must be rust-cargolambda")
        if binary not in ws_members:
            problems.append(
                f"{lid}: BuildProperties.Binary `{binary}` is not a binary of the workspace "
                f"(have: {', '.join(sorted(ws_members))})"
            )
        code_uri = res.get("Properties", {}).get("CodeUri")
        if not isinstance(code_uri, str) or (m.template_dir / code_uri).resolve() != REPO:
            problems.append(
                f"{lid}: CodeUri must be the workspace root relative to the template (`../`), got `{code_uri}`"
            )
        fp = m.props(lid)
        for key, want in (("Runtime", "provided.al2023"), ("Handler", "bootstrap")):
            if fp.get(key) != want:
                problems.append(f"{lid}: {key} must be {want}, got {fp.get(key)}")
        if fp.get("Architectures") != ["arm64"]:
            problems.append(f"{lid}: Architectures must be [arm64] (the build cross-compiles with --arm64)")
    for needed in ("webhook", "worker", "sweep", "tick"):
        if needed not in m.functions.values():
            problems.append(f"no function builds the `{needed}` binary")
    if problems:
        raise CheckFailed("; ".join(problems))


def check_visibility(m: Model, r: Resolver) -> None:
    _, esm, queue, fn = m.worker_mapping()
    timeout = r.integer(m.props(fn).get("Timeout", 3), f"{fn}.Timeout")
    window = r.integer(esm.get("MaximumBatchingWindowInSeconds", 0), "MaximumBatchingWindowInSeconds")
    vis = r.integer(m.props(queue).get("VisibilityTimeout", 30), f"{queue}.VisibilityTimeout")
    need = VISIBILITY_FACTOR * timeout + window
    if vis < need:
        raise CheckFailed(
            f"{queue}.VisibilityTimeout is {vis}s but must be >= {VISIBILITY_FACTOR} x {fn}.Timeout "
            f"({timeout}s) + batching window ({window}s) = {need}s, or jobs are delivered twice while "
            f"still running ({r.params.name})"
        )


def check_dead_letter(m: Model, r: Resolver) -> None:
    _, _, queue, worker = m.worker_mapping()
    redrive = r.value(m.props(queue).get("RedrivePolicy"))
    if not isinstance(redrive, dict):
        raise CheckFailed(
            f"{queue} has no RedrivePolicy: a job that keeps failing is retried forever. Add "
            f"RedrivePolicy {{deadLetterTargetArn: !GetAtt <DLQ>.Arn, maxReceiveCount: !Ref MaxAttempts}}"
        )
    target = redrive.get("deadLetterTargetArn")
    if not (isinstance(target, Sym) and target.kind == "GetAtt" and target.attr == "Arn"):
        raise CheckFailed(
            f"{queue} RedrivePolicy.deadLetterTargetArn must be !GetAtt <DLQ>.Arn, got {target}"
        )
    dlq = target.target
    if m.cfn["Resources"].get(dlq, {}).get("Type") != "AWS::SQS::Queue":
        raise CheckFailed(f"{queue} dead-letters to {dlq}, which is not an AWS::SQS::Queue in this template")
    if dlq == queue:
        raise CheckFailed(f"{queue} dead-letters to itself")
    count = r.integer(redrive.get("maxReceiveCount"), f"{queue} RedrivePolicy.maxReceiveCount")
    if count < 1:
        raise CheckFailed(f"{queue} RedrivePolicy.maxReceiveCount must be >= 1, got {count}")
    attempts = r.value(
        m.props(worker).get("Environment", {}).get("Variables", {}).get("RESTAGER_MAX_ATTEMPTS")
    )
    if str(attempts) != str(count):
        raise CheckFailed(
            f"RESTAGER_MAX_ATTEMPTS ({attempts}) must equal maxReceiveCount ({count}) so the worker records "
            f"a job as failed on the delivery before it is dead-lettered ({r.params.name})"
        )
    src_ret = r.integer(
        m.props(queue).get("MessageRetentionPeriod", 345600), f"{queue}.MessageRetentionPeriod"
    )
    dlq_ret = r.integer(m.props(dlq).get("MessageRetentionPeriod", 345600), f"{dlq}.MessageRetentionPeriod")
    if dlq_ret <= src_ret:
        raise CheckFailed(
            f"{dlq}.MessageRetentionPeriod ({dlq_ret}s) must be longer than {queue}'s ({src_ret}s), or "
            f"dead-lettered jobs expire before anyone looks at them"
        )


def check_batch_failures(m: Model, r: Resolver) -> None:
    lid, esm, _, fn = m.worker_mapping()
    types = r.value(esm.get("FunctionResponseTypes", []))
    if "ReportBatchItemFailures" not in (types or []):
        raise CheckFailed(
            f"{fn}'s SQS event source lacks FunctionResponseTypes: [ReportBatchItemFailures]; without it "
            f"Lambda ignores the worker's batchItemFailures and one failed restage retries the whole batch"
        )


def check_concurrency(m: Model, r: Resolver) -> None:
    _, esm, _, fn = m.worker_mapping()
    scaling = esm.get("ScalingConfig", {})
    if "MaximumConcurrency" not in scaling:
        raise CheckFailed(
            f"{fn}'s SQS event source has no ScalingConfig.MaximumConcurrency: restages are unbounded"
        )
    mc = r.integer(scaling["MaximumConcurrency"], "ScalingConfig.MaximumConcurrency")
    if mc < 2:
        raise CheckFailed(f"ScalingConfig.MaximumConcurrency is {mc}; AWS requires 2..1000 ({r.params.name})")
    if "ReservedConcurrentExecutions" not in m.props(fn):
        raise CheckFailed(f"{fn} has no ReservedConcurrentExecutions; set it >= MaximumConcurrency ({mc})")
    reserved = r.integer(m.props(fn)["ReservedConcurrentExecutions"], f"{fn}.ReservedConcurrentExecutions")
    if mc > reserved:
        raise CheckFailed(
            f"ScalingConfig.MaximumConcurrency ({mc}) exceeds {fn}.ReservedConcurrentExecutions ({reserved}): "
            f"the poller would be throttled and messages bounce back to the queue ({r.params.name})"
        )


def check_env_vars(m: Model, r: Resolver) -> None:
    wanted = code_env_vars()
    problems = []
    for fn in m.functions:
        have = set(m.props(fn).get("Environment", {}).get("Variables", {}))
        missing = sorted(wanted - have)
        if missing:
            problems.append(f"{fn} does not set {', '.join(missing)}")
        leaked = sorted(have & set(LOCAL_RUNNER_ONLY))
        if leaked:
            problems.append(f"{fn} sets local-runner-only {', '.join(leaked)}")
    if problems:
        raise CheckFailed(
            "; ".join(problems)
            + " - the Rust code reads these names: add them to Globals.Function.Environment in "
            "infra/template.yaml, or (local runner only) to LOCAL_RUNNER_ONLY in infra/check_template.py"
        )


def secret_source_problem(value: Any) -> str | None:
    """None when every way the value can come out is a Secrets Manager reference or empty."""
    if value in ("", None) or value == {"Ref": "AWS::NoValue"}:
        return None
    if isinstance(value, str):
        return None if value.startswith(SECRET_REF_PREFIX) else "a literal value"
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            if text.startswith(SECRET_REF_PREFIX):
                return None
            return "an Fn::Sub that is not a Secrets Manager reference"
        if fn == "Fn::If":
            for branch in arg[1:]:
                problem = secret_source_problem(branch)
                if problem:
                    return problem
            return None
        if fn == "Ref":
            return f"template parameter {arg} (parameters show up in the console and change sets)"
    return f"`{json.dumps(value)}`"


def check_secrets(m: Model, r: Resolver) -> None:
    problems = []
    for fn in m.functions:
        env = m.props(fn).get("Environment", {}).get("Variables", {})
        for name in SECRET_VARS:
            if name in env:
                problem = secret_source_problem(env[name])
                if problem:
                    problems.append(f"{fn}.{name} comes from {problem}")
        for name, value in env.items():
            if name not in SECRET_VARS and SECRET_REF_PREFIX in json.dumps(value):
                problems.append(f"{fn}.{name} resolves a secret but is not in SECRET_VARS")
    for name, p in m.sam.get("Parameters", {}).items():
        if str(p.get("NoEcho", "")).lower() == "true":
            problems.append(
                f"parameter {name} is NoEcho: secrets belong in Secrets Manager, pass the secret's name"
            )
    if problems:
        raise CheckFailed(
            "; ".join(problems)
            + " - use !Sub '{{resolve:secretsmanager:${<Name>Param}:SecretString}}' where the parameter holds only the secret name"
        )


def check_fifo(m: Model, r: Resolver) -> None:
    lid, esm, queue, fn = m.worker_mapping()
    redrive = r.value(m.props(queue).get("RedrivePolicy")) or {}
    target = redrive.get("deadLetterTargetArn")
    queues = [queue] + ([target.target] if isinstance(target, Sym) else [])
    problems = []
    for q in queues:
        p = m.props(q)
        if str(r.value(p.get("FifoQueue", False))).lower() != "true":
            problems.append(
                f"{q} is not FIFO (FifoQueue: true)"
                + (" - a FIFO queue's DLQ must be FIFO" if q != queue else "")
            )
        name = r.value(p.get("QueueName"))
        if name is not None and not str(name).endswith(".fifo"):
            problems.append(f"{q}.QueueName `{name}` must end in .fifo")
    if str(r.value(m.props(queue).get("ContentBasedDeduplication", False))).lower() == "true":
        problems.append(
            f"{queue}: ContentBasedDeduplication must be off - the code sends MessageDeduplicationId = job id"
        )
    if "MaximumBatchingWindowInSeconds" in esm:
        problems.append(f"{lid}: FIFO event sources do not support MaximumBatchingWindowInSeconds")
    batch = r.integer(esm.get("BatchSize", 10), "BatchSize")
    if not 1 <= batch <= 10:
        problems.append(f"{lid}: BatchSize {batch} - FIFO event sources allow 1..10")
    if problems:
        raise CheckFailed("; ".join(problems) + f" ({r.params.name})")


def check_function_urls(m: Model, r: Resolver) -> None:
    webhook = m.function_by_binary("webhook")
    public = []
    for res in m.resources("AWS::Lambda::Url").values():
        p = res.get("Properties", {})
        target = p.get("TargetFunctionArn")
        tid = target.get("Ref") if isinstance(target, dict) else target
        if r.value(p.get("AuthType")) == "NONE":
            public.append(tid)
    if webhook not in public:
        raise CheckFailed(
            f"{webhook} needs FunctionUrlConfig {{AuthType: NONE}} (senders authenticate by signature)"
        )
    others = sorted(set(public) - {webhook})
    if others:
        raise CheckFailed(
            f"{', '.join(others)} must not have a public (AuthType NONE) Function URL: only the webhook verifies signatures"
        )


# The binaries whose handler reads EventBridge's scheduled event.
SCHEDULED_BINARIES = ("sweep", "tick")


def check_schedules(m: Model, r: Resolver) -> None:
    """One event type per function: only the sweep and the tick are scheduled, each once, and
    each gets the scheduled event itself (an `Input` would replace it with JSON the handler
    cannot read; the tick also takes its time from it)."""
    scheduled = {m.function_by_binary(b) for b in SCHEDULED_BINARIES}
    problems = []
    for lid in m.functions:
        events = m.sam["Resources"][lid].get("Properties", {}).get("Events", {}) or {}
        schedules = {
            name: ev for name, ev in events.items() if ev.get("Type") in ("Schedule", "ScheduleV2")
        }
        if lid not in scheduled and schedules:
            problems.append(
                f"{lid} has schedule event(s) {', '.join(sorted(schedules))}: only "
                f"{', '.join(sorted(scheduled))} are scheduled"
            )
        if lid in scheduled:
            if len(schedules) != 1:
                problems.append(f"{lid} needs exactly one Schedule event, has {len(schedules)}")
            for name, ev in schedules.items():
                if "Input" in ev.get("Properties", {}):
                    problems.append(
                        f"{lid}.Events.{name} sets Input: the handler reads the EventBridge scheduled event"
                    )
            others = sorted(n for n, ev in events.items() if n not in schedules)
            if others:
                problems.append(f"{lid} has other event(s) {', '.join(others)}: one event type per function")
    if problems:
        raise CheckFailed("; ".join(problems))


ALLOWED_MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole",  # logs
    "AWSLambdaSQSQueueExecutionRole",  # the event source's receive/delete
}


def check_least_privilege(m: Model, r: Resolver) -> None:
    problems = []
    for lid, res in m.resources("AWS::IAM::Role").items():
        p = res.get("Properties", {})
        for arn in p.get("ManagedPolicyArns", []):
            name = str(r.value(arn)).rsplit("/", 1)[-1]
            if name not in ALLOWED_MANAGED_POLICIES:
                problems.append(f"{lid} attaches managed policy {name}")
        for policy in p.get("Policies", []):
            statements = policy.get("PolicyDocument", {}).get("Statement", [])
            for st in statements if isinstance(statements, list) else [statements]:
                if st.get("Effect") != "Allow":
                    continue
                actions = st.get("Action", [])
                resources = st.get("Resource", [])
                actions = actions if isinstance(actions, list) else [actions]
                resources = resources if isinstance(resources, list) else [resources]
                wild = [a for a in actions if isinstance(a, str) and (a == "*" or a.endswith(":*"))]
                if wild:
                    problems.append(f"{lid} ({policy.get('PolicyName')}) allows {', '.join(wild)}")
                if "*" in resources:
                    problems.append(f"{lid} ({policy.get('PolicyName')}) allows {actions} on every resource")
    if problems:
        raise CheckFailed(
            "; ".join(problems) + " - scope each statement to the stack's queue/table and name the actions"
        )


def check_samconfig(m: Model, r: Resolver) -> None:
    cfg, overrides, _ = read_samconfig(SAMCONFIG)
    problems = []
    env = cfg.get("default", {})
    for command in ("build", "validate"):
        tf = env.get(command, {}).get("parameters", {}).get("template_file")
        if tf is None or (SAMCONFIG.parent / tf).resolve() != TEMPLATE.resolve():
            problems.append(
                f"[default.{command}.parameters] template_file is `{tf}`, expected the path of {TEMPLATE.name}"
            )
    # Given the source template, `sam deploy` would package CodeUri `../` - the whole workspace.
    for scope in ("global", "deploy", "package"):
        if "template_file" in env.get(scope, {}).get("parameters", {}):
            problems.append(
                f"[default.{scope}.parameters] sets template_file: sam deploy must use the built template "
                f"(.aws-sam/build/template.yaml); set template_file only for build/validate/sync"
            )
    params = m.sam.get("Parameters", {})
    for key, value in overrides.items():
        if key not in params:
            problems.append(f"parameter_overrides sets {key}, which the template does not declare")
            continue
        problem = parameter_value_problem(params[key], value)
        if problem:
            problems.append(f"parameter_overrides {key}={value!r}: {problem}")
    for key, p in params.items():
        if "Default" not in p and key not in overrides:
            problems.append(f"{key} has no default; set a placeholder in parameter_overrides")
    if problems:
        raise CheckFailed("; ".join(problems))


def parameter_value_problem(p: dict, value: str) -> str | None:
    if "AllowedValues" in p and value not in [str(v) for v in p["AllowedValues"]]:
        return f"not one of {p['AllowedValues']}"
    if "AllowedPattern" in p and not re.fullmatch(p["AllowedPattern"], value):
        return f"does not match {p['AllowedPattern']}"
    if p.get("Type") == "Number":
        try:
            n = float(value)
        except ValueError:
            return "not a number"
        if "MinValue" in p and n < float(p["MinValue"]):
            return f"below MinValue {p['MinValue']}"
        if "MaxValue" in p and n > float(p["MaxValue"]):
            return f"above MaxValue {p['MaxValue']}"
    return None


# ------------------------------------------------------------------------------------------------
# The metrics the code emits (shared/src/metrics)

METRICS_DIR = "shared/src/metrics"
# Code the Lambda functions run: a recording call here reaches CloudWatch as EMF.
LAMBDA_CODE = ("shared/src", "functions/webhook/src", "functions/worker/src", "functions/sweep/src", "functions/tick/src")


@dataclass
class CodeMetric:
    name: str
    emf: bool
    labels: tuple[str, ...]
    recorded_by: list[str] = field(default_factory=list)  # the recording functions in metrics/mod.rs
    called: bool = False  # one of them is called by code the Lambda functions run


def code_metrics() -> tuple[str, dict[str, CodeMetric]]:
    """(namespace, metrics by name) from shared/src/metrics: the one list of names (names.rs),
    which recording function writes each (mod.rs), and whether Lambda code calls one of them."""
    names_rs = (REPO / METRICS_DIR / "names.rs").read_text()
    ns = re.search(r'pub const NAMESPACE: &str = "([^"]+)";', names_rs)
    if not ns:
        raise CheckFailed(f"{METRICS_DIR}/names.rs has no NAMESPACE: has the code moved?")
    by_const: dict[str, CodeMetric] = {}
    for const, body in re.findall(r"pub const (\w+): Metric = Metric \{(.*?)\};", names_rs, re.S):
        name = re.search(r'name: "([a-z_]+)"', body)
        emf = re.search(r"emf: (true|false)", body)
        labels = re.search(r"labels: &\[(.*?)\]", body, re.S)
        if not (name and emf and labels):
            raise CheckFailed(f"{METRICS_DIR}/names.rs: {const} lacks a literal name, emf or labels")
        by_const[const] = CodeMetric(name.group(1), emf.group(1) == "true", tuple(re.findall(r'"([a-z_]+)"', labels.group(1))))
    if not by_const:
        raise CheckFailed(f"found no Metric in {METRICS_DIR}/names.rs: has the code moved?")
    mod_rs = (REPO / METRICS_DIR / "mod.rs").read_text()
    for fn, body in re.findall(r"pub fn (\w+)\([^)]*\)[^{]*\{(.*?)\n\}", mod_rs, re.S):
        for const in re.findall(r"names::(\w+)\.name", body):
            if const in by_const:
                by_const[const].recorded_by.append(fn)
    calls: set[str] = set()
    for d in LAMBDA_CODE:
        for path in sorted((REPO / d).rglob("*.rs")):
            if METRICS_DIR in str(path.relative_to(REPO)):
                continue
            calls.update(re.findall(r"metrics::(\w+)\(", strip_test_modules(path.read_text())))
    for m in by_const.values():
        m.called = any(fn in calls for fn in m.recorded_by)
    return ns.group(1), {m.name: m for m in by_const.values()}


def metric_refs(m: Model, r: Resolver) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(where, namespace, metric, dimension names) for every metric an alarm or a dashboard
    widget of the template names, SEARCH expressions included."""
    refs = []
    for lid, res in m.resources("AWS::CloudWatch::Alarm").items():
        p = res.get("Properties", {})
        if "MetricName" in p:
            dims = tuple(sorted(str(d.get("Name")) for d in p.get("Dimensions", [])))
            refs.append((lid, str(r.value(p.get("Namespace"))), str(r.value(p["MetricName"])), dims))
        for q in p.get("Metrics", []):
            metric = q.get("MetricStat", {}).get("Metric")
            if metric:
                dims = tuple(sorted(str(d.get("Name")) for d in metric.get("Dimensions", [])))
                refs.append((f"{lid}.{q.get('Id')}", str(r.value(metric.get("Namespace"))), str(r.value(metric.get("MetricName"))), dims))
    for lid, res in m.resources("AWS::CloudWatch::Dashboard").items():
        body = r.value(res.get("Properties", {}).get("DashboardBody"))
        try:
            widgets = json.loads(body).get("widgets", []) if isinstance(body, str) else None
        except json.JSONDecodeError as err:
            raise CheckFailed(f"{lid}.DashboardBody is not JSON: {err}") from None
        if widgets is None:
            raise CheckFailed(f"{lid}.DashboardBody must be a JSON string (an !Sub of one)")
        for w in widgets:
            title = w.get("properties", {}).get("title", "?")
            previous: list = []
            for entry in w.get("properties", {}).get("metrics", []):
                where = f"{lid} widget `{title}`"
                plain = [x for x in entry if not isinstance(x, dict)]
                for x in entry:
                    if isinstance(x, dict) and "expression" in x:
                        for ns, dims, name in re.findall(r"\{([^,}]+),?([^}]*)\}\s*MetricName=\"([^\"]+)\"", x["expression"]):
                            refs.append((where, ns, name, tuple(sorted(d for d in dims.split(",") if d))))
                if len(plain) >= 2:
                    # "." repeats the previous entry's value in that position.
                    plain = [previous[i] if x == "." and i < len(previous) else x for i, x in enumerate(plain)]
                    previous = plain
                    refs.append((where, str(plain[0]), str(plain[1]), tuple(sorted(str(d) for d in plain[2::2]))))
    return refs


def check_metrics(m: Model, r: Resolver) -> None:
    namespace, emitted = code_metrics()
    problems = []
    refs = [x for x in metric_refs(m, r) if x[1] == namespace]
    for where, _, name, dims in refs:
        metric = emitted.get(name)
        if metric is None:
            problems.append(f"{where} names {name}, which {METRICS_DIR}/names.rs does not list")
        elif not metric.emf:
            problems.append(f"{where} names {name}, which only `restager serve` exposes (emf: false)")
        elif not metric.called:
            problems.append(
                f"{where} names {name}, but no code the Lambda functions run calls "
                f"{' or '.join(f'metrics::{f}()' for f in metric.recorded_by) or 'a recording function'}"
            )
        elif tuple(sorted(metric.labels)) != dims:
            problems.append(
                f"{where}: {name} is written with the dimensions [{', '.join(sorted(metric.labels))}], "
                f"not [{', '.join(dims)}] (CloudWatch matches the whole set)"
            )
    if not refs:
        problems.append(f"no alarm or dashboard widget uses the {namespace} namespace")
    alarms = m.resources("AWS::CloudWatch::Alarm")
    if not any(name == "restager_runs_halted_total" and where in alarms for where, _, name, _ in refs):
        problems.append("no alarm on restager_runs_halted_total (halted runs)")
    if problems:
        raise CheckFailed("; ".join(problems))


INVARIANTS: list[tuple[str, Callable[[Model, Resolver], None]]] = [
    ("lambda-build", check_build),
    ("visibility-timeout", check_visibility),
    ("dead-letter-queue", check_dead_letter),
    ("partial-batch-responses", check_batch_failures),
    ("worker-concurrency", check_concurrency),
    ("env-vars", check_env_vars),
    ("secrets", check_secrets),
    ("fifo", check_fifo),
    ("function-url-auth", check_function_urls),
    ("schedules", check_schedules),
    ("least-privilege", check_least_privilege),
    ("samconfig", check_samconfig),
    ("metrics", check_metrics),
]


# ------------------------------------------------------------------------------------------------
# What the Rust code reads


def strip_test_modules(src: str) -> str:
    """Drops `#[cfg(test)] mod x { ... }` blocks: names used only by tests need no deployment."""
    out, i = [], 0
    # Braces inside string literals must not count.
    masked = re.sub(r'"(?:\\.|[^"\\])*"', lambda s: '"' + " " * (len(s.group(0)) - 2) + '"', src)
    for mt in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", src):
        if mt.start() < i:
            continue
        out.append(src[i : mt.start()])
        depth, j = 0, mt.end() - 1
        while j < len(src):
            if masked[j] == "{":
                depth += 1
            elif masked[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        i = j + 1
    out.append(src[i:])
    return "".join(out)


def code_env_vars() -> set[str]:
    names: set[str] = set()
    for d in CODE_DIRS:
        for path in sorted((REPO / d).rglob("*.rs")):
            if "tests" in path.relative_to(REPO / d).parts:
                continue
            names.update(ENV_NAME.findall(strip_test_modules(path.read_text())))
    if not names:
        raise CheckFailed(f"found no env var names in {', '.join(CODE_DIRS)}: has the code moved?")
    return names - set(LOCAL_RUNNER_ONLY)


def workspace_binaries() -> set[str]:
    """Binary names cargo-lambda can build: each functions/* package (one bin per package)."""
    names = set()
    for manifest in (REPO / "functions").glob("*/Cargo.toml"):
        cfg = tomllib.loads(manifest.read_text())
        bins = cfg.get("bin")
        if bins:
            names.update(b["name"] for b in bins if "name" in b)
        else:
            names.add(cfg.get("package", {}).get("name", manifest.parent.name))
    return names


# ------------------------------------------------------------------------------------------------
# Running


TEMPLATE = DEFAULT_TEMPLATE
SAMCONFIG = DEFAULT_SAMCONFIG


@dataclass
class Result:
    name: str
    ok: bool
    detail: str = ""


def run_checks(
    template: Path, with_lint: bool = True, with_samconfig: bool = True, template_dir: Path | None = None
) -> list[Result]:
    results: list[Result] = []

    def step(name: str, fn: Callable[[], Any]) -> Any:
        try:
            out = fn()
        except CheckFailed as err:
            results.append(Result(name, False, str(err)))
            return None
        results.append(Result(name, True))
        return out if out is not None else True

    sam = step("parse", lambda: load_sam(template))
    if sam is None:
        return results
    if with_lint:
        step("cfn-lint (SAM template)", lambda: lint(template))
    cfn = step("sam-transform", lambda: transform(sam))
    if cfn is None:
        return results
    if with_lint:
        with tempfile.TemporaryDirectory(prefix="restager-cfn-") as tmp:
            out = Path(tmp) / "transformed.json"
            out.write_text(json.dumps(cfn, indent=1))
            step("cfn-lint (transformed CloudFormation)", lambda: lint(out))

    model = build_model(sam, cfn, template_dir or template.parent)
    sets = [ParamSet("defaults", param_defaults(sam), "restager")]
    if with_samconfig:
        try:
            _, overrides, stack = read_samconfig(SAMCONFIG)
            sets.append(ParamSet("samconfig", {**param_defaults(sam), **overrides}, stack))
        except CheckFailed as err:
            results.append(Result("samconfig", False, str(err)))
    for name, check in INVARIANTS:
        if name == "samconfig" and not with_samconfig:
            continue
        errors = []
        for ps in sets:
            try:
                check(model, Resolver(cfn, ps))
            except CheckFailed as err:
                if str(err) not in errors:
                    errors.append(str(err))
        results.append(Result(name, not errors, " | ".join(errors)))
    return results


def print_results(results: list[Result], indent: str = "") -> bool:
    for res in results:
        line = f"{indent}{'PASS' if res.ok else 'FAIL'}  {res.name}"
        if not res.ok:
            line += f": {res.detail}"
        print(line)
    return all(r.ok for r in results)


# ------------------------------------------------------------------------------------------------
# Self-test: broken copies of the real template, each must be caught by a named check.


def _res(t: dict, lid: str) -> dict:
    if lid not in t.get("Resources", {}):
        raise KeyError(f"resource {lid} not found - update the mutation in check_template.py")
    return t["Resources"][lid]


def _env(t: dict) -> dict:
    return t["Globals"]["Function"]["Environment"]["Variables"]


def _worker_event(t: dict) -> dict:
    return _res(t, "WorkerFunction")["Properties"]["Events"]["Jobs"]["Properties"]


def mut_short_visibility(t: dict) -> None:
    _res(t, "JobsQueue")["Properties"]["VisibilityTimeout"] = 900


def mut_no_batch_failures(t: dict) -> None:
    del _worker_event(t)["FunctionResponseTypes"]


def mut_plain_secret_parameter(t: dict) -> None:
    t["Parameters"]["CfClientSecret"] = {"Type": "String", "NoEcho": True}
    _env(t)["CF_CLIENT_SECRET"] = {"Ref": "CfClientSecret"}


def mut_literal_secret(t: dict) -> None:
    _env(t)["SLACK_SIGNING_SECRET"] = "8f742231b10e8888abcd99yyyzzz85a5"


def mut_concurrency_over_reserved(t: dict) -> None:
    t["Parameters"]["WorkerMaxConcurrency"]["Default"] = 20


def mut_no_redrive(t: dict) -> None:
    del _res(t, "JobsQueue")["Properties"]["RedrivePolicy"]


def mut_standard_dlq(t: dict) -> None:
    p = _res(t, "JobsDeadLetterQueue")["Properties"]
    p.pop("FifoQueue", None)
    p.pop("ContentBasedDeduplication", None)
    p["QueueName"] = {"Fn::Sub": "${AWS::StackName}-jobs-dlq"}


def mut_public_worker(t: dict) -> None:
    _res(t, "WorkerFunction")["Properties"]["FunctionUrlConfig"] = {"AuthType": "NONE"}


def mut_wildcard_policy(t: dict) -> None:
    statement = {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
    _res(t, "WebhookFunction")["Properties"]["Policies"].append({"Statement": [statement]})


def mut_missing_env_var(t: dict) -> None:
    del _env(t)["RESTAGER_POLL_INTERVAL"]


def mut_schedule_on_webhook(t: dict) -> None:
    events = _res(t, "SweepFunction")["Properties"].pop("Events")
    _res(t, "WebhookFunction")["Properties"]["Events"] = events


def mut_tick_without_schedule(t: dict) -> None:
    del _res(t, "TickFunction")["Properties"]["Events"]


def mut_misspelled_event_property(t: dict) -> None:
    ev = _worker_event(t)
    ev["BatchSiz"] = ev.pop("BatchSize")


def mut_alarm_on_unknown_metric(t: dict) -> None:
    _res(t, "HaltedRunsAlarm")["Properties"]["MetricName"] = "restager_runs_stopped_total"


def mut_alarm_without_its_dimension(t: dict) -> None:
    stat = _res(t, "FailedRestagesAlarm")["Properties"]["Metrics"][0]["MetricStat"]["Metric"]
    del stat["Dimensions"]


def mut_dashboard_on_serve_only_metric(t: dict) -> None:
    body = _res(t, "Dashboard")["Properties"]["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace('["Restager", "restager_runs_halted_total"]', '["Restager", "restager_queue_depth"]')


MUTATIONS: list[tuple[str, Callable[[dict], None], str]] = [
    ("short-visibility-timeout", mut_short_visibility, "visibility-timeout"),
    ("missing-report-batch-item-failures", mut_no_batch_failures, "partial-batch-responses"),
    ("plain-text-secret-parameter", mut_plain_secret_parameter, "secrets"),
    ("literal-secret", mut_literal_secret, "secrets"),
    ("max-concurrency-over-reserved", mut_concurrency_over_reserved, "worker-concurrency"),
    ("no-dead-letter-queue", mut_no_redrive, "dead-letter-queue"),
    ("standard-dlq-for-fifo-queue", mut_standard_dlq, "fifo"),
    ("public-worker-url", mut_public_worker, "function-url-auth"),
    ("wildcard-iam-policy", mut_wildcard_policy, "least-privilege"),
    ("missing-env-var", mut_missing_env_var, "env-vars"),
    ("schedule-on-webhook", mut_schedule_on_webhook, "schedules"),
    ("tick-without-schedule", mut_tick_without_schedule, "schedules"),
    ("misspelled-sqs-event-property", mut_misspelled_event_property, "sam-transform"),
    ("alarm-on-unknown-metric", mut_alarm_on_unknown_metric, "metrics"),
    ("alarm-without-its-dimension", mut_alarm_without_its_dimension, "metrics"),
    ("dashboard-on-serve-only-metric", mut_dashboard_on_serve_only_metric, "metrics"),
]


def self_test(template: Path, keep_dir: Path | None) -> bool:
    import yaml  # PyYAML comes with cfn-lint

    base = load_sam(template)
    # A variant only proves something if the unbroken template passes the same checks.
    baseline = [r for r in run_checks(template, with_lint=False, with_samconfig=False) if not r.ok]
    if baseline:
        print_results(baseline)
        print("self-test: the unmodified template already fails; fix that first")
        return False
    all_caught = True
    with tempfile.TemporaryDirectory(prefix="restager-broken-") as tmp:
        out_dir = keep_dir or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, mutate, expected in MUTATIONS:
            broken = copy.deepcopy(base)
            mutate(broken)
            path = out_dir / f"{name}.yaml"
            path.write_text(
                f"# Generated by infra/check_template.py --self-test from {template.name}; must fail `{expected}`.\n"
                + yaml.safe_dump(broken, sort_keys=False, width=120)
            )
            # The copy lives elsewhere; its CodeUri still means "relative to the real template".
            results = run_checks(path, with_lint=False, with_samconfig=False, template_dir=template.parent)
            hit = next((r for r in results if r.name == expected and not r.ok), None)
            if hit:
                print(f"CAUGHT  {name} by {expected}: {hit.detail.splitlines()[0][:160]}")
            else:
                all_caught = False
                failed = [r.name for r in results if not r.ok]
                print(f"MISSED  {name}: expected `{expected}` to fail; failing checks: {failed or 'none'}")
    return all_caught


def main() -> int:
    global TEMPLATE, SAMCONFIG
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    ap.add_argument("--samconfig", type=Path, default=DEFAULT_SAMCONFIG)
    ap.add_argument("--self-test", action="store_true", help="generate broken variants; each must be caught")
    ap.add_argument(
        "--keep-broken", type=Path, metavar="DIR", help="with --self-test: write the variants here"
    )
    ap.add_argument("--no-lint", action="store_true", help="skip cfn-lint (faster; invariants only)")
    args = ap.parse_args()
    TEMPLATE, SAMCONFIG = args.template.resolve(), args.samconfig.resolve()
    if args.self_test:
        ok = self_test(TEMPLATE, args.keep_broken)
        print(
            "self-test: every broken variant was caught" if ok else "self-test: some variants were NOT caught"
        )
        return 0 if ok else 1
    ok = print_results(run_checks(TEMPLATE, with_lint=not args.no_lint))
    print("template checks: all passed" if ok else "template checks: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
