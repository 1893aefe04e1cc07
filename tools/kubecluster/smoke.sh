#!/usr/bin/env bash
# Smoke check of the test control plane: one Job per pod life of stages.yaml, in namespace
# smoke, all followed by one list loop (no kubectl wait per object), each outcome checked.
#
#   tools/kubecluster/smoke.sh KUBECTL DIR     (scripts/kube smoke DIR runs this)
#
# DIR is a directory scripts/kube start set up (its kubeconfig and pod.log are used). Exits
# non-zero, saying what was seen, on the first mismatch or after 90s.
set -euo pipefail
kubectl_bin=${1:?usage: smoke.sh KUBECTL DIR}
dir=${2:?usage: smoke.sh KUBECTL DIR}
k=("$kubectl_bin" --kubeconfig "$dir/kubeconfig")
ns=smoke
image=registry.example.com/docket/smoke:1.0

if ! command -v jq >/dev/null; then
	echo "installing jq from Debian's packages" >&2
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; } >&2
fi

t0=${EPOCHREALTIME/./}
say() {
	local us=$((${EPOCHREALTIME/./} - t0))
	printf '[%d.%ds] %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*" >&2
}

if "${k[@]}" get namespace "$ns" >/dev/null 2>&1; then
	say "deleting the namespace $ns left by an earlier run"
	"${k[@]}" delete namespace "$ns" --timeout 120s >/dev/null
fi
"${k[@]}" create namespace "$ns" >/dev/null
# Pods in this namespace show DIR/pod.log as their output (KWOK's kubelet endpoint).
"${k[@]}" apply -f - >/dev/null <<YAML
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: smoke
spec:
  selector:
    matchNamespaces: [$ns]
  logs:
  - logsFile: $dir/pod.log
YAML

# job NAME ANNOTATIONS [CPU [EXTRA-JOB-SPEC]]
job() {
	cat <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  namespace: $ns
spec:
  backoffLimit: 0
  ${4:-}
  template:
    metadata:
      annotations: {$2}
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: $image
        command: [sh, -c, "echo hello"]
        resources:
          requests: {cpu: "${3:-100m}", memory: 64Mi}
---
YAML
}
{
	job ok ""
	job run-for '"kwok.docket.dev/run-for": "4s"'
	job exit-code '"kwok.docket.dev/exit-code": "3"'
	job oom '"kwok.docket.dev/exit-code": "137", "kwok.docket.dev/reason": "OOMKilled"'
	job pull-fail '"kwok.docket.dev/image": "pull-fail"'
	job invalid '"kwok.docket.dev/image": "invalid"'
	job no-command '"kwok.docket.dev/image": "no-command"'
	job too-big "" 64
	job ttl "" 100m "ttlSecondsAfterFinished: 0"
	job delete-job '"kwok.docket.dev/run-for": "1h"'
	job delete-pod '"kwok.docket.dev/run-for": "1h"'
} | "${k[@]}" apply -f - >/dev/null
say "created 11 Jobs in namespace $ns"

state=$(mktemp)
trap 'rm -f "$state"' EXIT
declare -A done=()
checks=(ok run-for exit-code oom pull-fail invalid no-command too-big logs ttl delete-job delete-pod)

# q JQ-ARGS...: query the last listing.
q() { jq -r "$@" "$state"; }
# pod JOB: the (newest) pod of a Job, as JSON, or null.
pod() { q --arg j "$1" '[.items[] | select(.kind == "Pod" and .metadata.labels["job-name"] == $j)] | sort_by(.metadata.creationTimestamp) | last'; }
# jobcond JOB TYPE: the status of the Job's condition TYPE.
jobcond() { q --arg j "$1" --arg t "$2" '.items[] | select(.kind == "Job" and .metadata.name == $j) | .status.conditions // [] | .[] | select(.type == $t) | .status'; }
# events POD: "type reason message" of the events about POD.
events() { q --arg p "$1" '.items[] | select(.kind == "Event" and .involvedObject.name == $p) | "\(.type) \(.reason) \(.message)"'; }
# term POD-JSON: "exitCode reason" of its first container's terminated state.
term() { jq -r '.status.containerStatuses[0].state.terminated // {} | "\(.exitCode) \(.reason)"' <<<"$1"; }

pass() {
	done[$1]=1
	say "ok   $1: $2"
}
failed() {
	say "FAIL $1: $2"
	echo "the namespace $ns is left as it is for a look: $kubectl_bin --kubeconfig $dir/kubeconfig -n $ns get jobs,pods,events" >&2
	exit 1
}

deadline=$(($(date +%s) + 90))
deleted_job="" deleted_pod=""
while ((${#done[@]} < ${#checks[@]})); do
	if (($(date +%s) > deadline)); then
		for c in "${checks[@]}"; do
			[[ -n "${done[$c]:-}" ]] && continue
			p=$(pod "$c")
			echo "still waiting for $c; its pod's status: $(jq -c '.status // {} | {phase, conditions, containerStatuses}' <<<"$p")" >&2
		done
		failed timeout "not every outcome was seen in 90s"
	fi
	"${k[@]}" get jobs,pods,events -n "$ns" -o json >"$state"

	# No annotation: Running, then exit 0 (phase Succeeded) and the Job Complete.
	if [[ -z "${done[ok]:-}" && $(jobcond ok Complete) == True ]]; then
		p=$(pod ok)
		[[ $(jq -r .status.phase <<<"$p") == Succeeded && $(term "$p") == "0 Completed" ]] ||
			failed ok "Job Complete but its pod is $(jq -r .status.phase <<<"$p") with $(term "$p")"
		pass ok "Job Complete, pod Succeeded, exit 0 Completed"
	fi

	# kwok.docket.dev/run-for: 4s: Running for 4s, then the outcome.
	if [[ -z "${done[run-for]:-}" && $(jobcond run-for Complete) == True ]]; then
		p=$(pod run-for)
		ran=$(jq -r '.status.containerStatuses[0].state.terminated | ((.finishedAt | fromdate) - (.startedAt | fromdate))' <<<"$p")
		((ran >= 3 && ran <= 7)) || failed run-for "the container ran ${ran}s, not about 4s"
		pass run-for "Job Complete after the container ran ${ran}s"
	fi

	# kwok.docket.dev/exit-code: 3: terminated 3 Error, phase Failed, the Job Failed.
	if [[ -z "${done[exit-code]:-}" && $(jobcond exit-code Failed) == True ]]; then
		p=$(pod exit-code)
		[[ $(jq -r .status.phase <<<"$p") == Failed && $(term "$p") == "3 Error" ]] ||
			failed exit-code "Job Failed but its pod is $(jq -r .status.phase <<<"$p") with $(term "$p")"
		pass exit-code "Job Failed, pod Failed, exit 3 Error"
	fi

	# kwok.docket.dev/reason: OOMKilled with exit-code 137.
	if [[ -z "${done[oom]:-}" && $(jobcond oom Failed) == True ]]; then
		p=$(pod oom)
		[[ $(term "$p") == "137 OOMKilled" ]] || failed oom "Job Failed but its container ended $(term "$p")"
		pass oom "Job Failed, exit 137 OOMKilled"
	fi

	# kwok.docket.dev/image: pull-fail: ErrImagePull, then ImagePullBackOff, with events.
	if [[ -z "${done[pull-fail]:-}" ]]; then
		p=$(pod pull-fail)
		w=$(jq -r '.status.containerStatuses[0].state.waiting // {} | "\(.reason)|\(.message)"' <<<"$p")
		if [[ $w == ImagePullBackOff\|* ]]; then
			[[ $(jq -r .status.phase <<<"$p") == Pending ]] || failed pull-fail "phase $(jq -r .status.phase <<<"$p")"
			[[ $w == *"Back-off pulling image \"$image\": ErrImagePull: "* ]] || failed pull-fail "waiting message: ${w#*|}"
			ev=$(events "$(jq -r .metadata.name <<<"$p")")
			if grep -q '^Warning Failed ' <<<"$ev" && grep -q '^Normal BackOff ' <<<"$ev"; then
				pass pull-fail "Pending, waiting ImagePullBackOff \"${w#*|}\"; events: $(tr '\n' ';' <<<"$ev")"
			fi
		elif [[ $w != ErrImagePull\|* && $w != "null|null" ]]; then
			failed pull-fail "waiting $w"
		fi
	fi

	# kwok.docket.dev/image: invalid: InvalidImageName.
	if [[ -z "${done[invalid]:-}" ]]; then
		p=$(pod invalid)
		w=$(jq -r '.status.containerStatuses[0].state.waiting // {} | "\(.reason)|\(.message)"' <<<"$p")
		if [[ $w == InvalidImageName\|* ]]; then
			ev=$(events "$(jq -r .metadata.name <<<"$p")")
			if grep -q '^Warning InspectFailed ' <<<"$ev"; then
				pass invalid "Pending, waiting InvalidImageName \"${w#*|}\"; events: $(tr '\n' ';' <<<"$ev")"
			fi
		elif [[ $w != "null|null" ]]; then
			failed invalid "waiting $w"
		fi
	fi

	# kwok.docket.dev/image: no-command: the container cannot start (StartError 128), the
	# pod fails without running, the Job Failed.
	if [[ -z "${done[no-command]:-}" && $(jobcond no-command Failed) == True ]]; then
		p=$(pod no-command)
		msg=$(jq -r '.status.containerStatuses[0].state.terminated.message' <<<"$p")
		[[ $(jq -r .status.phase <<<"$p") == Failed && $(term "$p") == "128 StartError" && $msg == *'exec: "sh": executable file not found in $PATH'* ]] ||
			failed no-command "Job Failed but its pod is $(jq -r .status.phase <<<"$p") with $(term "$p") \"$msg\""
		pass no-command "Job Failed, pod Failed, exit 128 StartError \"$msg\""
	fi

	# A pod too big for every node: the scheduler leaves it Unschedulable.
	if [[ -z "${done[too-big]:-}" ]]; then
		c=$(pod too-big | jq -r '.status.conditions // [] | .[] | select(.type == "PodScheduled") | "\(.status)|\(.reason)|\(.message)"')
		if [[ $c == "False|Unschedulable|"*"Insufficient cpu"* ]]; then
			pass too-big "PodScheduled False Unschedulable: ${c##*|}"
		fi
	fi

	# Pod logs: KWOK serves DIR/pod.log for pods matched by the ClusterLogs.
	if [[ -z "${done[logs]:-}" && -n "${done[ok]:-}" ]]; then
		name=$(pod ok | jq -r .metadata.name)
		out=$("${k[@]}" logs -n "$ns" "$name" 2>&1) || failed logs "kubectl logs $name: $out"
		[[ $out == "$(sed 's/^[^ ]* stdout F //' "$dir/pod.log")" ]] || failed logs "kubectl logs $name printed: $out"
		pass logs "kubectl logs $name printed the $(wc -l <<<"$out") lines of $dir/pod.log"
	fi

	# ttlSecondsAfterFinished: 0: the finished Job is deleted by the TTL controller.
	if [[ -z "${done[ttl]:-}" ]] && ! q -e '.items[] | select(.kind == "Job" and .metadata.name == "ttl")' >/dev/null; then
		pass ttl "the finished Job was deleted by the TTL-after-finished controller"
	fi

	# Deleting a Job with a running pod: the pod is stopped and removed (garbage collector,
	# KWOK's kill and delete stages, the Job controller's finalizer).
	if [[ -z "${done[delete-job]:-}" ]]; then
		p=$(pod delete-job)
		if [[ -z $deleted_job && $(jq -r '.status.phase' <<<"$p") == Running ]]; then
			"${k[@]}" delete job -n "$ns" delete-job --wait=false >/dev/null
			deleted_job=$(jq -r .metadata.name <<<"$p")
			say "deleted the Job delete-job while its pod $deleted_job ran"
		elif [[ -n $deleted_job ]] && ! q -e '.items[] | select(.metadata.name == "delete-job" or .metadata.name == "'"$deleted_job"'")' >/dev/null; then
			pass delete-job "the Job and its pod are gone"
		fi
	fi

	# Deleting a running pod of a live Job: stopped with exit 143, counted as a failure by
	# the Job controller (backoffLimit 0: the Job fails), then removed.
	if [[ -z "${done[delete-pod]:-}" ]]; then
		p=$(pod delete-pod)
		if [[ -z $deleted_pod && $(jq -r '.status.phase' <<<"$p") == Running ]]; then
			deleted_pod=$(jq -r .metadata.name <<<"$p")
			"${k[@]}" delete pod -n "$ns" "$deleted_pod" --wait=false >/dev/null
			say "deleted the running pod $deleted_pod of the Job delete-pod"
		elif [[ -n $deleted_pod && $(jobcond delete-pod Failed) == True ]] &&
			! q -e --arg p "$deleted_pod" '.items[] | select(.kind == "Pod" and .metadata.name == $p)' >/dev/null; then
			nfailed=$(q '.items[] | select(.kind == "Job" and .metadata.name == "delete-pod") | .status.failed')
			reason=$(q '.items[] | select(.kind == "Job" and .metadata.name == "delete-pod") | .status.conditions[] | select(.type == "Failed") | .reason')
			[[ $nfailed == 1 ]] || failed delete-pod "the Job counts $nfailed failed pods"
			pass delete-pod "the Job counted the deleted pod as failed ($reason) and the pod is gone"
		fi
	fi
	sleep 0.5
done
say "all ${#checks[@]} checks passed; deleting the namespace $ns"
"${k[@]}" delete namespace "$ns" --wait=false >/dev/null
"${k[@]}" delete clusterlogs smoke --wait=false >/dev/null
