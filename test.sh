#!/usr/bin/env bash
# Runs the whole partysip test suite, installing what the tests need on a fresh Debian machine.
#   FUZZTIME=300000x          how many inputs the inbound fuzz target runs (about 20 s here)
#   SIPCORE_FUZZTIME=100000x  how many each of the parser-boundary fuzz targets runs (2-5 s each)
# Budgets are counts, not durations: Go 1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" when a duration runs out mid-input (golang/go#75804, fixed in 1.27);
# a count has no deadline to race. A duration (e.g. FUZZTIME=1m) still works.
set -euo pipefail
cd "$(dirname "$0")"

# The end-to-end tests drive real SIPp processes on loopback, real phones (baresip, headless),
# and attack the daemon with the SIPVicious tools (svwar, svcrack); the simulator's replay reads
# captures with tshark.
if ! command -v sipp >/dev/null 2>&1 || ! command -v svcrack >/dev/null 2>&1 || ! command -v baresip >/dev/null 2>&1 ||
  ! command -v tshark >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sip-tester sipvicious baresip-core tshark >/dev/null
fi

echo "== gofmt, go vet, go mod tidy"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
# The bench is a module of its own (its plotting stays out of the daemon's go.mod); go.work ties
# the two, and ./... stops at a module's edge, so the bench is named beside it.
go vet ./... ./bench/...
go mod tidy -diff
(cd bench && go mod tidy -diff)

echo "== go test -race, both tiers"
# A plain go test ./... is the fast tier (under a minute); PARTYSIP_SLOW=1 adds the slow one: SIPp
# load runs, floods, the soak, the SIPVicious attacks, daemon restarts (bench/sipp.SlowTier).
export PARTYSIP_SLOW=1
# Test binaries are built in parallel first, then run one package at a time: the SIPp load tests
# (the soak, the harness smoke test, the daemon's end-to-end runs) then never share the 2 cores
# with the compiler or with each other, and a SIPp starved of CPU cannot fail a call.
if ! out=$(go test -race -count=1 -run '^$' ./... ./bench/... 2>&1); then
  echo "$out"; exit 1
fi
go test -race -count=1 -p 1 ./... ./bench/...

echo "== fuzz the inbound path (${FUZZTIME:-300000x}, engine confined to loopback)"
go test -run='^$' -fuzz=FuzzInbound -fuzztime="${FUZZTIME:-300000x}" ./actors/
echo "== fuzz the stream framing scanner (${SIPCORE_FUZZTIME:-100000x})"
go test -run='^$' -fuzz='^FuzzFraming$' -fuzztime="${SIPCORE_FUZZTIME:-100000x}" ./actors/transport/
echo "== fuzz the parsers' boundary in sipcore (${SIPCORE_FUZZTIME:-100000x} each)"
for target in registrar:FuzzParse transaction:FuzzKeys proxy:FuzzBadRequest digest:FuzzCredentials; do
  go test -run='^$' -fuzz="^${target#*:}\$" -fuzztime="${SIPCORE_FUZZTIME:-100000x}" "./sipcore/${target%%:*}/"
done

echo "== benchmarks run once (numbers come from go test -bench, see README)"
go test -run='^$' -bench=. -benchtime=1x ./... ./bench/...
# The engine benchmarks at volume too: one source sending thousands of requests a second is what
# they measure (a run of one request once hid that the per-source limit stopped them at 1,000).
go test -run='^$' -bench='^Benchmark(Register|ProxyRoundTrip)$' -benchtime=3000x ./actors/
