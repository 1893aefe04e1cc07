// Package job is Docket's shared vocabulary: the job definition a user writes, the run that
// one firing of it becomes, the states a run moves through and the events that record each
// move. Every stage of the flow (schedule -> queue -> dispatch -> execute -> watch -> record)
// speaks in these types. The package imports only the standard library.
package job
