/*
 * Chapter 14 (inputs): a minimal reader for the protobuf wire format, enough
 * to walk SentencePiece's ModelProto without libprotobuf.
 *
 * A message is a sequence of fields. Each field starts with a varint tag,
 * (field_number << 3) | wire_type, followed by its value:
 *   wire type 0  VARINT            base-128 integer, 7 bits a byte, low group
 *                                  first, high bit set on all but the last byte
 *                                  (at most 10 bytes for 64 bits)
 *   wire type 1  I64               8 bytes little-endian (double, fixed64)
 *   wire type 2  LEN               varint byte count, then the bytes
 *                                  (string, bytes, embedded message)
 *   wire type 5  I32               4 bytes little-endian (float, fixed32)
 * Wire types 3 and 4 (groups, deprecated since proto2) and 6, 7 are rejected.
 * Fields this code does not know are skipped by their wire type, which is
 * how a protobuf parser stays compatible with newer writers.
 *
 * Every error names the file, the message path (e.g. ModelProto.trainer_spec)
 * and the byte offset in the file.
 */
#ifndef PG_PROTOBUF_H
#define PG_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "pg_error.h"

enum {
    PB_WIRE_VARINT = 0,
    PB_WIRE_I64 = 1,
    PB_WIRE_LEN = 2,
    PB_WIRE_I32 = 5
};

/* A cursor over one message: data[0..size) starts at byte `offset` of the file. */
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
    size_t offset;
    const char *file;    /* file name for messages */
    const char *message; /* message path for messages, e.g. "ModelProto" */
} pb_reader;

/* One field's tag and, for LEN fields, its payload. */
typedef struct {
    int number;
    int wire_type;
    size_t offset;         /* file offset of the tag */
    uint64_t varint;       /* VARINT value */
    uint32_t fixed32;      /* I32 value */
    const uint8_t *bytes;  /* LEN payload */
    size_t length;         /* LEN payload size */
} pb_field;

/* Starts a reader over a whole buffer (the top-level message). */
pb_reader pb_reader_start(const uint8_t *data, size_t size, const char *file, const char *message);

/* Starts a reader over the payload of a LEN field (an embedded message). */
pb_reader pb_reader_embedded(const pb_reader *parent, const pb_field *field, const char *message);

/* Reads the next field, value included. Returns 1 when a field was read,
 * 0 at the end of the message, -1 on malformed input (err filled). */
int pb_next_field(pb_reader *reader, pb_field *field, pg_error *err);

/* Checks that a known field has the wire type its .proto declares;
 * `name` is the field name for the message. Returns 0 or -1. */
int pb_expect_wire_type(const pb_reader *reader, const pb_field *field, const char *name,
                        int wire_type, pg_error *err);

/* The float whose bits an I32 field holds. */
float pb_float(const pb_field *field);

/* The int32 a VARINT field holds: negative int32 values are written as
 * 10-byte two's complement varints, so this keeps the low 32 bits. */
int32_t pb_int32(const pb_field *field);

#endif
