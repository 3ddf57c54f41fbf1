// Command goclient runs clickhouse-go v2 over its HTTP protocol (the driver Grafana's
// ClickHouse plugin uses) against a server and prints what it read as one JSON document,
// so a Python test can check each value. Usage: goclient -addr 127.0.0.1:8123 -user U -password P
//
// With -queries FILE (a JSON array of SQL texts) it instead runs each text through
// database/sql on clickhouse.OpenDB with no arguments, as the plugin's backend (sqlds)
// does, and prints for each its row count and first error, or the error.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

type typedRow struct {
	ID       uint64   `json:"id"`
	Value    float64  `json:"value"`
	Name     string   `json:"name"`
	At       string   `json:"at"`
	Tags     []string `json:"tags"`
	Maybe    *float64 `json:"maybe"`
	Category string   `json:"category"`
}

type report struct {
	ServerVersion string     `json:"server_version"`
	Rows          []typedRow `json:"rows"`
	Inserted      uint64     `json:"inserted"`
	SumAfter      float64    `json:"sum_after"`
	ParamResult   string     `json:"param_result"`
	ErrorCode     int32      `json:"error_code"`
	Aggregate     []float64  `json:"aggregate"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8123", "host:port of the ClickHouse HTTP interface")
	user := flag.String("user", "default", "user")
	password := flag.String("password", "", "password")
	table := flag.String("table", "go_client_test", "table to create and fill")
	compression := flag.String("compression", "none", "none or gzip")
	queries := flag.String("queries", "", "a JSON array of SQL texts to run as Grafana's plugin does")
	flag.Parse()
	if *queries != "" {
		if err := runQueries(*addr, *user, *password, *queries); err != nil {
			fmt.Fprintln(os.Stderr, "goclient:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*addr, *user, *password, *table, *compression); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func open(addr, user, password, compression string) (clickhouse.Conn, error) {
	options := &clickhouse.Options{
		Protocol:    clickhouse.HTTP,
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: "default", Username: user, Password: password},
		DialTimeout: 10 * time.Second,
		Settings:    clickhouse.Settings{"max_execution_time": 60},
	}
	if compression == "gzip" {
		options.Compression = &clickhouse.Compression{Method: clickhouse.CompressionGZIP}
	}
	return clickhouse.Open(options)
}

func run(addr, user, password, table, compression string) error {
	ctx := context.Background()
	conn, err := open(addr, user, password, compression)
	if err != nil {
		return err
	}
	defer conn.Close()
	var out report
	version, err := conn.ServerVersion()
	if err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	out.ServerVersion = version.String()
	if err := create(ctx, conn, table); err != nil {
		return err
	}
	if out.Inserted, err = insert(ctx, conn, table); err != nil {
		return err
	}
	if out.Rows, err = selectRows(ctx, conn, table); err != nil {
		return err
	}
	if err := conn.QueryRow(ctx, "SELECT sum(value) FROM "+table).Scan(&out.SumAfter); err != nil {
		return fmt.Errorf("sum: %w", err)
	}
	if err := conn.QueryRow(clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"who": "grafana"})),
		"SELECT concat('hello ', {who:String})").Scan(&out.ParamResult); err != nil {
		return fmt.Errorf("parameters: %w", err)
	}
	if out.Aggregate, err = aggregate(ctx, conn, table); err != nil {
		return err
	}
	var exception *clickhouse.Exception
	if err := conn.Exec(ctx, "SELECT * FROM no_such_table_here"); errors.As(err, &exception) {
		out.ErrorCode = exception.Code
	} else {
		return fmt.Errorf("expected a ClickHouse exception, got %v", err)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func create(ctx context.Context, conn clickhouse.Conn, table string) error {
	if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	return conn.Exec(ctx, `CREATE TABLE `+table+` (
		id UInt64, value Float64, name String, at DateTime64(3, 'UTC'),
		tags Array(String), maybe Nullable(Float64), category LowCardinality(String)
	) ENGINE = MergeTree ORDER BY id`)
}

func insert(ctx context.Context, conn clickhouse.Conn, table string) (uint64, error) {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table)
	if err != nil {
		return 0, fmt.Errorf("prepare batch: %w", err)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	for i := uint64(0); i < 1000; i++ {
		var maybe *float64
		if i%2 == 0 {
			v := float64(i) / 2
			maybe = &v
		}
		err := batch.Append(i, float64(i)*1.5, fmt.Sprintf("row-%d", i), base.Add(time.Duration(i)*time.Second),
			[]string{"a", fmt.Sprint(i % 3)}, maybe, []string{"train", "eval"}[i%2])
		if err != nil {
			return 0, fmt.Errorf("append: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return 0, fmt.Errorf("send batch: %w", err)
	}
	var count uint64
	err = conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&count)
	return count, err
}

func selectRows(ctx context.Context, conn clickhouse.Conn, table string) ([]typedRow, error) {
	rows, err := conn.Query(ctx, "SELECT id, value, name, at, tags, maybe, category FROM "+table+
		" WHERE id < 3 ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	defer rows.Close()
	var result []typedRow
	for rows.Next() {
		var row typedRow
		var at time.Time
		if err := rows.Scan(&row.ID, &row.Value, &row.Name, &at, &row.Tags, &row.Maybe, &row.Category); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		row.At = at.UTC().Format(time.RFC3339Nano)
		result = append(result, row)
	}
	return result, rows.Err()
}

// aggregate runs the kind of query a Grafana time-series panel sends.
func aggregate(ctx context.Context, conn clickhouse.Conn, table string) ([]float64, error) {
	rows, err := conn.Query(ctx, "SELECT toStartOfMinute(at) AS t, avg(value) FROM "+table+
		" WHERE at >= toDateTime64('2026-01-02 00:00:00', 3, 'UTC') GROUP BY t ORDER BY t")
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	defer rows.Close()
	var values []float64
	for rows.Next() {
		var t time.Time
		var v float64
		if err := rows.Scan(&t, &v); err != nil {
			return nil, fmt.Errorf("scan aggregate: %w", err)
		}
		values = append(values, v)
	}
	return values, rows.Err()
}

type queryResult struct {
	Rows    int      `json:"rows"`
	Text    string   `json:"text"`
	Error   string   `json:"error,omitempty"`
	Columns []column `json:"columns"`
	Values  [][]any  `json:"values"`
}

// column is a result column as the driver reports it; the plugin types its frame fields by it.
type column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// jsonable keeps a value JSON can carry as is, and writes the rest (NaN, ±Inf, maps of them)
// as fmt prints them, so a test can still read every row.
func jsonable(value any) any {
	for v := reflect.ValueOf(value); v.Kind() == reflect.Pointer; v = v.Elem() {
		if v.IsNil() {
			return nil
		}
		value = v.Elem().Interface()
	}
	if _, err := json.Marshal(value); err != nil {
		return fmt.Sprint(value)
	}
	return value
}

// runQueries runs each SQL text of the file through database/sql and reports its rows.
func runQueries(addr, user, password, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var texts []string
	if err := json.Unmarshal(raw, &texts); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	db := clickhouse.OpenDB(&clickhouse.Options{
		Protocol:    clickhouse.HTTP,
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: "default", Username: user, Password: password},
		DialTimeout: 10 * time.Second,
	})
	defer db.Close()
	results := make([]queryResult, 0, len(texts))
	for _, text := range texts {
		results = append(results, runOne(db, text))
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

// runOne reads every row as text (each value through fmt), so the caller can look for leaks.
func runOne(db *sql.DB, text string) queryResult {
	var result queryResult
	rows, err := db.QueryContext(context.Background(), text)
	if err != nil {
		result.Error = err.Error()
		return result
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		result.Error = err.Error()
		return result
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		result.Error = err.Error()
		return result
	}
	for i, name := range columns {
		result.Columns = append(result.Columns, column{Name: name, Type: types[i].DatabaseTypeName()})
	}
	values := make([]any, len(columns))
	pointers := make([]any, len(columns))
	for i := range values {
		pointers[i] = &values[i]
	}
	var dump []byte
	for rows.Next() {
		if err := rows.Scan(pointers...); err != nil {
			result.Error = err.Error()
			return result
		}
		result.Rows++
		dump = fmt.Appendf(dump, "%v\n", values)
		row := make([]any, len(values))
		for i, value := range values {
			row[i] = jsonable(value)
		}
		result.Values = append(result.Values, row)
	}
	if err := rows.Err(); err != nil {
		result.Error = err.Error()
	}
	result.Text = string(dump)
	return result
}
