// SPDX-License-Identifier: MIT

// The official Go client, clickhouse-go, over HTTP against the embedded endpoint: the calls a Go program
// makes (ping, server version, queries with bound parameters short and long, streaming rows, batch inserts
// in Native, a server error with its code), once per compression method. Prints one line per check and
// "N passed, N failed" at the end; exits 1 when a check failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

var passed, failed int

func check(name string, err error) {
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	passed++
	fmt.Printf("ok   %s\n", name)
}

func run(ctx context.Context, addr, password string, method clickhouse.CompressionMethod, label string) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:    clickhouse.HTTP,
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: "default", Username: "default", Password: password},
		Compression: &clickhouse.Compression{Method: method},
		DialTimeout: 10 * time.Second,
	})
	check(label+": open", err)
	if err != nil {
		return
	}
	defer conn.Close()

	check(label+": ping", conn.Ping(ctx))

	v, err := conn.ServerVersion()
	if err == nil && v.Version.Major < 20 {
		err = fmt.Errorf("implausible server version %v", v)
	}
	check(label+": server version", err)

	// Bound parameters, short and beyond 4 KiB.
	for _, n := range []int{5, 6000} {
		value := strings.Repeat("é", n)
		var got uint64
		var same uint8
		pctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"p": value, "q": value}))
		err := conn.QueryRow(pctx, "SELECT lengthUTF8({p:String}), {p:String} = {q:String}").Scan(&got, &same)
		if err == nil && (got != uint64(n) || same != 1) {
			err = fmt.Errorf("got length %d equal %d, want %d 1", got, same, n)
		}
		check(fmt.Sprintf("%s: query with a %d-character bound parameter", label, n), err)
	}

	table := "go_" + strings.ReplaceAll(label, "-", "_")
	err = conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+
		" (n UInt64, s String, m Map(LowCardinality(String), String), o Nullable(Int32), a Array(String),"+
		" lc LowCardinality(String), t DateTime64(9)) ENGINE = MergeTree ORDER BY n")
	check(label+": create table", err)
	err = conn.Exec(ctx, "TRUNCATE TABLE "+table)
	check(label+": truncate", err)

	// Batch insert: Native of the client's protocol revision, compressed as configured.
	const rows = 20000
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table)
	if err == nil {
		base := time.Unix(1700000000, 123456789)
		for i := 0; i < rows && err == nil; i++ {
			var o *int32
			if i%2 == 1 {
				x := int32(i)
				o = &x
			}
			err = batch.Append(uint64(i), fmt.Sprintf("row %d", i),
				map[string]string{"k": fmt.Sprint(i), "service.name": "go"}, o,
				[]string{"a", fmt.Sprint(i)}, fmt.Sprint(i%7), base.Add(time.Duration(i)*time.Millisecond))
		}
		if err == nil {
			err = batch.Send()
		}
	}
	check(fmt.Sprintf("%s: batch insert of %d rows", label, rows), err)

	var count, sum, nulls, keys uint64
	err = conn.QueryRow(ctx, "SELECT count(), sum(n), countIf(o IS NULL), sum(toUInt64(m['k'])) FROM "+table).
		Scan(&count, &sum, &nulls, &keys)
	if err == nil && (count != rows || sum != rows*(rows-1)/2 || nulls != rows/2 || keys != sum) {
		err = fmt.Errorf("got count %d sum %d nulls %d keys %d", count, sum, nulls, keys)
	}
	check(label+": every inserted row reads back", err)

	// Streaming many rows of several types, in blocks.
	r, err := conn.Query(ctx, "SELECT n, s, m, o, a, lc, t FROM "+table+" ORDER BY n")
	if err == nil {
		var i uint64
		for r.Next() {
			var n uint64
			var s, lc string
			var m map[string]string
			var o *int32
			var a []string
			var t time.Time
			if err = r.Scan(&n, &s, &m, &o, &a, &lc, &t); err != nil {
				break
			}
			if n != i || s != fmt.Sprintf("row %d", i) || m["k"] != fmt.Sprint(i) || len(a) != 2 ||
				(i%2 == 1) != (o != nil) || t.UnixNano() != 1700000000123456789+int64(i)*1e6 {
				err = fmt.Errorf("row %d read back as %d %q %v %v %v %v", i, n, s, m, o, a, t)
				break
			}
			i++
		}
		if err == nil {
			err = r.Err()
		}
		if err == nil && i != rows {
			err = fmt.Errorf("streamed %d rows, want %d", i, rows)
		}
		r.Close()
	}
	check(label+": streaming select of every row and type", err)

	// A server error surfaces with its code.
	err = conn.Exec(ctx, "SELECT * FROM no_such_table_here")
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && ex.Code == 60 {
		err = nil
	} else {
		err = fmt.Errorf("want exception code 60, got %v", err)
	}
	check(label+": server error with its code", err)
}

func main() {
	addr := flag.String("addr", "", "host:port of the endpoint")
	flag.Parse()
	password := os.Getenv("CLICKHOUSE_PASSWORD")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, m := range []struct {
		method clickhouse.CompressionMethod
		label  string
	}{
		{clickhouse.CompressionLZ4, "lz4"},
		{clickhouse.CompressionZSTD, "zstd"},
		{clickhouse.CompressionGZIP, "gzip"},
		{clickhouse.CompressionNone, "none"},
	} {
		run(ctx, *addr, password, m.method, m.label)
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
