// Command testjob is the job that Docket's executor tests run: one static program with a
// behaviour per subcommand, so the same definition runs as a local process, in a container
// built FROM scratch, and in a Kubernetes pod.
//
//	testjob env                  print the DOCKET_* environment and the job's own variables
//	testjob exit CODE            print a line to stdout and one to stderr, exit with CODE
//	testjob lines N              print N numbered lines, alternating stdout and stderr
//	testjob sleep DURATION       sleep, printing a line when it starts; exit 0 at the end
//	testjob ignore-term DURATION as sleep, but ignore SIGTERM
//	testjob alloc MIB            allocate and touch MIB mebibytes, then exit 0
//	testjob spin DURATION N      keep N goroutines busy for DURATION and print the cores used
//	testjob cat PATH...          print the working directory, then each file's content
//	testjob report NAME=VALUE... post metrics to the run's report ($DOCKET_API, $DOCKET_TOKEN)
//	testjob result KEY=VALUE...  post a result document of strings to the run's report
//	testjob echo ARGS...         print the arguments, one a line
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: testjob env|exit|lines|sleep|ignore-term|alloc|spin|report ARGS")
	}
	arg := func(i int) string {
		if len(os.Args) <= i {
			fail(fmt.Sprintf("testjob %s: missing argument %d", os.Args[1], i-1))
		}
		return os.Args[i]
	}
	switch os.Args[1] {
	case "cat":
		wd, _ := os.Getwd()
		fmt.Println("pwd=" + wd)
		for _, p := range os.Args[2:] {
			data, err := os.ReadFile(p)
			if err != nil {
				fail(err.Error())
			}
			fmt.Printf("%s=%s\n", p, strings.TrimSpace(string(data)))
		}
	case "env":
		var keys []string
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "DOCKET_") || strings.HasPrefix(k, "JOB_") {
				keys = append(keys, kv)
			}
		}
		sort.Strings(keys)
		for _, kv := range keys {
			fmt.Println(kv)
		}
	case "exit":
		code, err := strconv.Atoi(arg(2))
		if err != nil {
			fail(err.Error())
		}
		fmt.Println("stdout line")
		fmt.Fprintln(os.Stderr, "stderr line")
		os.Exit(code)
	case "lines":
		n, err := strconv.Atoi(arg(2))
		if err != nil {
			fail(err.Error())
		}
		for i := 1; i <= n; i++ {
			w := os.Stdout
			if i%2 == 0 {
				w = os.Stderr
			}
			fmt.Fprintf(w, "line %d\n", i)
		}
	case "sleep", "ignore-term":
		d := duration(arg(2))
		if os.Args[1] == "ignore-term" {
			signal.Ignore(syscall.SIGTERM)
		}
		fmt.Println("sleeping", d)
		time.Sleep(d)
	case "alloc":
		mib, err := strconv.Atoi(arg(2))
		if err != nil {
			fail(err.Error())
		}
		b := make([]byte, mib<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Printf("allocated %d MiB\n", mib)
	case "spin":
		d := duration(arg(2))
		n, err := strconv.Atoi(arg(3))
		if err != nil {
			fail(err.Error())
		}
		spin(d, n)
	case "report":
		report(os.Args[2:])
	case "result":
		result := map[string]string{}
		for _, kv := range os.Args[2:] {
			k, v, _ := strings.Cut(kv, "=")
			result[k] = v
		}
		post(map[string]any{"result": result})
	case "echo":
		for _, a := range os.Args[2:] {
			fmt.Println(a)
		}
	default:
		fail("testjob: unknown subcommand " + os.Args[1])
	}
}

// spin keeps n goroutines busy for d and prints the cores the process used on average.
func spin(d time.Duration, n int) {
	start := time.Now()
	for range n {
		go func() {
			for x := 0; ; x++ {
				_ = x * x
			}
		}()
	}
	time.Sleep(d)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err.Error())
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("cores %.2f\n", cpu.Seconds()/time.Since(start).Seconds())
}

// report posts metrics to the run's report as a job would with curl: with the run's token,
// to the API its server gave it.
func report(args []string) {
	metrics := map[string]float64{}
	for _, kv := range args {
		name, value, _ := strings.Cut(kv, "=")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			fail(fmt.Sprintf("testjob report %s: %v", kv, err))
		}
		metrics[name] = v
	}
	post(map[string]any{"metrics": metrics})
	fmt.Printf("reported %d metrics to %s\n", len(metrics), os.Getenv("DOCKET_API"))
}

// post sends a report to the run's report endpoint.
func post(doc map[string]any) {
	body, _ := json.Marshal(doc)
	url := os.Getenv("DOCKET_API") + "/api/v1/runs/" + os.Getenv("DOCKET_RUN_ID") + "/report"
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		fail(err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+os.Getenv("DOCKET_TOKEN"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err.Error())
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fail(fmt.Sprintf("POST %s: %s %s", url, resp.Status, answer))
	}
}

func duration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		fail(err.Error())
	}
	return d
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(2)
}
