package cron

import "testing"

func TestDescribe(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]string{
		"* * * * *":          "every minute",
		"*/15 * * * *":       "every 15 minutes",
		"5 * * * *":          "every hour at :05",
		"@hourly":            "every hour at :00",
		"0 3 * * *":          "at 03:00 every day",
		"@daily":             "at 00:00 every day",
		"30 9 * * 1-5":       "at 09:30 on weekdays",
		"0 8 * * 0,6":        "at 08:00 on weekends",
		"0 8 * * 1,3":        "at 08:00 on Mondays and Wednesdays",
		"0 0 1 * *":          "at 00:00 on day 1 of the month",
		"@monthly":           "at 00:00 on day 1 of the month",
		"0 0 1,15 * *":       "at 00:00 on day 1 and 15 of the month",
		"0 6 * 1,7 *":        "at 06:00 every day in January and July",
		"@yearly":            "at 00:00 on day 1 of the month in January",
		"0 */6 * * *":        "every 6 hours at :00",
		"0 9,17 * * *":       "at 09:00 and 17:00 every day",
		"*/10 9-17 * * 1-5":  "every 10 minutes during hour 09 to 17 on weekdays",
		"0 0 13 * 5":         "at 00:00 on day 13 of the month and on Fridays",
		"0,20,40 1-20 * * *": "every 20 minutes during hour 01 to 20",
		"5,35 1-20 * * *":    "at minute 5 and 35 past hour 1 to 20 every day",
		"@every 10m":         "every 10 minutes",
		"@every 1h":          "every hour",
		"@every 90s":         "every 90 seconds",
	} {
		s, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		if got := s.Describe(); got != want {
			t.Errorf("Describe(%q) = %q, want %q", expr, got, want)
		}
	}
}
