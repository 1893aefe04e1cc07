package definition

// JSONDepth is how deeply a JSON document nests objects and arrays: what a request body or
// a reported document is bounded by before it is decoded or stored.
func JSONDepth(doc []byte) int {
	level, most := 0, 0
	inString, escaped := false, false
	for _, c := range doc {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			level++
			most = max(most, level)
		case c == '}' || c == ']':
			level--
		}
	}
	return most
}
