package cache

import (
	"time"

	"palisade/internal/httpsyntax"
)

// parseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7): the preferred
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and the obsolete rfc850
// ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37
// 1994") forms. Day and month names and "GMT" are case-sensitive, as the
// grammar says; the day name is checked to be one but not to match the
// date. A two-digit rfc850 year is read as 20yy when yy < 70 and 19yy
// otherwise, a fixed pivot rather than the RFC's "50 years in the future"
// rule, which would make the result depend on the clock. It allocates
// nothing.
func parseHTTPDate(s string) (time.Time, bool) {
	s = httpsyntax.TrimOWS(s)
	switch {
	case len(s) == 29 && s[3] == ',':
		return parseIMFFixdate(s)
	case len(s) == 24 && s[3] == ' ':
		return parseASCTime(s)
	default:
		return parseRFC850(s)
	}
}

// parseIMFFixdate parses "Sun, 06 Nov 1994 08:49:37 GMT".
func parseIMFFixdate(s string) (time.Time, bool) {
	if dayName(s[:3]) < 0 || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(s[5:7])
	month := monthName(s[8:11])
	year, ok2 := digits(s[12:16])
	if !ok1 || !ok2 || month < 0 {
		return time.Time{}, false
	}
	return dateTime(year, month, day, s[17:25])
}

// parseASCTime parses "Sun Nov  6 08:49:37 1994" (day padded with a space
// or a zero).
func parseASCTime(s string) (time.Time, bool) {
	if dayName(s[:3]) < 0 || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	month := monthName(s[4:7])
	d := s[8:10]
	if d[0] == ' ' {
		d = d[1:]
	}
	day, ok1 := digits(d)
	year, ok2 := digits(s[20:24])
	if !ok1 || !ok2 || month < 0 {
		return time.Time{}, false
	}
	return dateTime(year, month, day, s[11:19])
}

// parseRFC850 parses "Sunday, 06-Nov-94 08:49:37 GMT".
func parseRFC850(s string) (time.Time, bool) {
	comma := -1
	for i := 0; i < len(s) && i < 10; i++ {
		if s[i] == ',' {
			comma = i
			break
		}
	}
	if comma < 0 || longDayName(s[:comma]) < 0 {
		return time.Time{}, false
	}
	s = s[comma:]
	// ", 06-Nov-94 08:49:37 GMT"
	if len(s) != 24 || s[1] != ' ' || s[4] != '-' || s[8] != '-' || s[11] != ' ' || s[20:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(s[2:4])
	month := monthName(s[5:8])
	yy, ok2 := digits(s[9:11])
	if !ok1 || !ok2 || month < 0 {
		return time.Time{}, false
	}
	year := 1900 + yy
	if yy < 70 {
		year = 2000 + yy
	}
	return dateTime(year, month, day, s[12:20])
}

// dateTime checks hh:mm:ss and the calendar date and builds the UTC time.
// A leap second (60) is accepted, as the grammar allows, and lands on the
// next minute.
func dateTime(year, month, day int, hms string) (time.Time, bool) {
	if hms[2] != ':' || hms[5] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := digits(hms[0:2])
	mm, ok2 := digits(hms[3:5])
	ss, ok3 := digits(hms[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 || day < 1 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hh, mm, 0, 0, time.UTC)
	if t.Day() != day { // 31 Feb and the like roll over
		return time.Time{}, false
	}
	return t.Add(time.Duration(ss) * time.Second), true
}

// digits parses a run of ASCII digits.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// monthName returns 1-12 for "Jan"-"Dec", else -1.
func monthName(s string) int {
	switch s {
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return -1
}

// dayName returns 0-6 for "Sun"-"Sat", else -1.
func dayName(s string) int {
	switch s {
	case "Sun":
		return 0
	case "Mon":
		return 1
	case "Tue":
		return 2
	case "Wed":
		return 3
	case "Thu":
		return 4
	case "Fri":
		return 5
	case "Sat":
		return 6
	}
	return -1
}

// longDayName returns 0-6 for "Sunday"-"Saturday", else -1.
func longDayName(s string) int {
	switch s {
	case "Sunday":
		return 0
	case "Monday":
		return 1
	case "Tuesday":
		return 2
	case "Wednesday":
		return 3
	case "Thursday":
		return 4
	case "Friday":
		return 5
	case "Saturday":
		return 6
	}
	return -1
}
