/*
 * Chapter 14 (inputs): the protobuf wire-format reader. See protobuf.h for
 * the format and docs/14_tokenizer.md for the ModelProto layout.
 */
#include "protobuf.h"

#include <string.h>

static const char *wire_type_name(int wire_type)
{
    switch (wire_type) {
    case 0: return "VARINT";
    case 1: return "I64";
    case 2: return "LEN";
    case 3: return "SGROUP";
    case 4: return "EGROUP";
    case 5: return "I32";
    default: return "invalid";
    }
}

pb_reader pb_reader_start(const uint8_t *data, size_t size, const char *file, const char *message)
{
    pb_reader reader = {data, size, 0, 0, file, message};
    return reader;
}

pb_reader pb_reader_embedded(const pb_reader *parent, const pb_field *field, const char *message)
{
    size_t offset = parent->offset + (size_t)(field->bytes - parent->data);
    pb_reader reader = {field->bytes, field->length, 0, offset, parent->file, message};
    return reader;
}

/* Reads one base-128 varint at reader->pos. */
static int read_varint(pb_reader *reader, uint64_t *value, const char *what, pg_error *err)
{
    size_t start = reader->pos;
    uint64_t result = 0;
    for (int i = 0; i < 10; i++) {
        if (reader->pos >= reader->size)
            return pg_error_set(err, "%s: truncated varint (%s) in %s at byte %zu: the message ends "
                                "after %d byte(s) with the continuation bit set; the file is cut "
                                "short or corrupt",
                                reader->file, what, reader->message, reader->offset + start, i);
        uint8_t byte = reader->data[reader->pos++];

        /* The tenth byte holds only bit 63 of the value. */
        if (i == 9 && byte > 1)
            return pg_error_set(err, "%s: invalid varint (%s) in %s at byte %zu: the tenth byte is "
                                "0x%02x, expected 0x00 or 0x01 (a varint holds at most 64 bits)",
                                reader->file, what, reader->message, reader->offset + start, byte);
        result |= (uint64_t)(byte & 0x7F) << (7 * i);
        if ((byte & 0x80) == 0) {
            *value = result;
            return 0;
        }
    }
    return pg_error_set(err, "%s: invalid varint (%s) in %s at byte %zu: longer than 10 bytes",
                        reader->file, what, reader->message, reader->offset + start);
}

int pb_next_field(pb_reader *reader, pb_field *field, pg_error *err)
{
    if (reader->pos >= reader->size)
        return 0;
    memset(field, 0, sizeof *field);
    field->offset = reader->offset + reader->pos;

    /* The tag: field number and wire type. */
    uint64_t tag;
    if (read_varint(reader, &tag, "field tag", err) != 0)
        return -1;
    field->wire_type = (int)(tag & 7);
    uint64_t number = tag >> 3;
    if (number == 0 || number > 536870911)
        return pg_error_set(err, "%s: invalid field number %llu in %s at byte %zu: expected 1 to "
                            "536870911; the file is not a protobuf message or is corrupt",
                            reader->file, (unsigned long long)number, reader->message, field->offset);
    field->number = (int)number;

    /* The value, by wire type. */
    size_t left = reader->size - reader->pos;
    switch (field->wire_type) {
    case PB_WIRE_VARINT:
        return read_varint(reader, &field->varint, "field value", err) == 0 ? 1 : -1;
    case PB_WIRE_I64:
    case PB_WIRE_I32: {
        size_t width = field->wire_type == PB_WIRE_I64 ? 8 : 4;
        if (left < width)
            return pg_error_set(err, "%s: truncated %s value of field %d in %s at byte %zu: needs %zu "
                                "bytes, the message has %zu left",
                                reader->file, wire_type_name(field->wire_type), field->number,
                                reader->message, field->offset, width, left);
        const uint8_t *p = reader->data + reader->pos;
        if (width == 4)
            field->fixed32 = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24;
        reader->pos += width;
        return 1;
    }
    case PB_WIRE_LEN: {
        uint64_t length;
        if (read_varint(reader, &length, "length", err) != 0)
            return -1;
        left = reader->size - reader->pos;
        if (length > left)
            return pg_error_set(err, "%s: length of field %d in %s at byte %zu is %llu bytes, past the "
                                "end of the message (%zu bytes left); the file is cut short or corrupt",
                                reader->file, field->number, reader->message, field->offset,
                                (unsigned long long)length, left);
        field->bytes = reader->data + reader->pos;
        field->length = (size_t)length;
        reader->pos += (size_t)length;
        return 1;
    }
    default:
        return pg_error_set(err, "%s: field %d in %s at byte %zu has wire type %d (%s), which this "
                            "reader does not accept: only 0, 1, 2 and 5 occur in a ModelProto",
                            reader->file, field->number, reader->message, field->offset,
                            field->wire_type, wire_type_name(field->wire_type));
    }
}

int pb_expect_wire_type(const pb_reader *reader, const pb_field *field, const char *name,
                        int wire_type, pg_error *err)
{
    if (field->wire_type == wire_type)
        return 0;
    return pg_error_set(err, "%s: field %s.%s (number %d) at byte %zu has wire type %d (%s), expected "
                        "%d (%s); the file is not a SentencePiece model or is corrupt",
                        reader->file, reader->message, name, field->number, field->offset,
                        field->wire_type, wire_type_name(field->wire_type), wire_type,
                        wire_type_name(wire_type));
}

float pb_float(const pb_field *field)
{
    float value;
    memcpy(&value, &field->fixed32, sizeof value);
    return value;
}

int32_t pb_int32(const pb_field *field)
{
    return (int32_t)(uint32_t)(field->varint & 0xFFFFFFFFu);
}
