package track

import (
	"database/sql"
	"fmt"
	"math"
	"reflect"
)

// Param value types as stored in the database.
const (
	typeString = "string"
	typeInt    = "int"
	typeFloat  = "float"
	typeBool   = "bool"
)

// normalizeParam converts a parameter value to the form it is stored and
// given back in: string, int64, float64 or bool. Named types (type Eta
// float64) are accepted by their kind. Unsigned values above MaxInt64, and
// any other type, are errors.
func normalizeParam(v any) (typ string, norm any, err error) {
	if v == nil {
		return "", nil, fmt.Errorf("nil value (allowed: string, int, float, bool)")
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return typeString, rv.String(), nil
	case reflect.Bool:
		return typeBool, rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return typeInt, rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return "", nil, fmt.Errorf("unsigned value %d overflows int64", u)
		}
		return typeInt, int64(u), nil
	case reflect.Float32, reflect.Float64:
		return typeFloat, rv.Float(), nil
	}
	return "", nil, fmt.Errorf("unsupported type %T (allowed: string, int, float, bool)", v)
}

// sqlParam converts a normalized value to what is bound in SQL. NaN, which
// SQLite cannot store as a number, becomes NULL (and is read back as NaN).
func sqlParam(norm any) any {
	switch x := norm.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case float64:
		if math.IsNaN(x) {
			return nil
		}
	}
	return norm
}

// decodeParam turns a stored (type, value) pair back into a Go value.
func decodeParam(typ string, v any) (any, error) {
	switch typ {
	case typeString:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case typeInt:
		if x, ok := v.(int64); ok {
			return x, nil
		}
	case typeFloat:
		switch x := v.(type) {
		case nil:
			return math.NaN(), nil
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case typeBool:
		if x, ok := v.(int64); ok {
			return x != 0, nil
		}
	}
	return nil, fmt.Errorf("stored param of type %q has unexpected value %#v", typ, v)
}

// sameParam reports whether two normalized values are equal, type included.
// NaN equals NaN here, so re-logging a NaN param is not an error.
func sameParam(a, b any) bool {
	fa, okA := a.(float64)
	fb, okB := b.(float64)
	if okA && okB && math.IsNaN(fa) && math.IsNaN(fb) {
		return true
	}
	return a == b
}

// paramColumns are the columns that hold a param's value: SQLite's one
// column without a declared type keeps each value's own storage class;
// PostgreSQL has one typed column per kind.
func (d dialect) paramColumns() string {
	if d == dialectPostgres {
		return "sval, ival, fval"
	}
	return "value"
}

// insertParam is the statement that inserts a param: run, key, type, then
// paramArgs.
func (d dialect) insertParam() string {
	if d == dialectPostgres {
		return "INSERT INTO params (run, key, type, sval, ival, fval) VALUES (?, ?, ?, ?, ?, ?)"
	}
	return "INSERT INTO params (run, key, type, value) VALUES (?, ?, ?, ?)"
}

// paramArgs are the bound values of a normalized param's columns.
func (d dialect) paramArgs(norm any) []any {
	v := sqlParam(norm)
	if d != dialectPostgres {
		return []any{v}
	}
	switch x := v.(type) {
	case string:
		return []any{x, nil, nil}
	case int64:
		return []any{nil, x, nil}
	}
	return []any{nil, nil, v} // float64, or nil for NaN
}

// paramValue scans a param's value columns (paramColumns) and gives the
// value in SQLite's form, for decodeParam.
type paramValue struct {
	v any
	s sql.NullString
	i sql.NullInt64
	f sql.NullFloat64
}

// dest are the scan destinations of the dialect's value columns.
func (p *paramValue) dest(d dialect) []any {
	if d == dialectPostgres {
		return []any{&p.s, &p.i, &p.f}
	}
	return []any{&p.v}
}

// value is the scanned value as SQLite gives it: string, int64, float64 or nil.
func (p *paramValue) value(d dialect) any {
	if d != dialectPostgres {
		return p.v
	}
	switch {
	case p.s.Valid:
		return p.s.String
	case p.i.Valid:
		return p.i.Int64
	case p.f.Valid:
		return p.f.Float64
	}
	return nil
}
