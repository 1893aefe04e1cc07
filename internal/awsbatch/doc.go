// Package awsbatch is Docket's AWS Batch face: the restJson1 operations of AWS Batch under
// /v1/ and the CloudWatch Logs calls AWS Batch users read logs with, checked with SigV4, so
// the AWS CLI, boto3 and the AWS SDKs submit and follow Docket runs. It maps AWS's
// vocabulary onto Docket's own (a job definition is a job and its revisions, SubmitJob a
// run, a job's attempts the run's attempts) and stores through the same store as the API.
package awsbatch
