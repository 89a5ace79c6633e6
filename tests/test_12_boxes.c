/*
 * Chapter 12's detection boxes: parsing "<locY1><locX1><locY2><locX2> label ; ..."
 * and drawing the frames into a PNG. No golden data: the expected values are
 * written here, and the drawn file is read back with stb_image.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "12_paligemma/boxes.h"

START_TEST(parse_two_objects)
{
    paligemma_box boxes[4];
    int n = paligemma_parse_boxes("<loc0123><loc0045><loc0400><loc0388> circle ; "
                                  "<loc0500><loc0600><loc0900><loc1023> red square", boxes, 4);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(boxes[0].y_min, 123);
    ck_assert_int_eq(boxes[0].x_min, 45);
    ck_assert_int_eq(boxes[0].y_max, 400);
    ck_assert_int_eq(boxes[0].x_max, 388);
    ck_assert_str_eq(boxes[0].label, "circle");
    ck_assert_int_eq(boxes[1].x_max, 1023);
    ck_assert_str_eq(boxes[1].label, "red square");
}
END_TEST

START_TEST(parse_rejects_malformed_tokens)
{
    paligemma_box boxes[4];
    /* Three tokens, a 3-digit token, and a token out of the grid are not boxes. */
    ck_assert_int_eq(paligemma_parse_boxes("<loc0001><loc0002><loc0003> x", boxes, 4), 0);
    ck_assert_int_eq(paligemma_parse_boxes("<loc001><loc0002><loc0003><loc0004> x", boxes, 4), 0);
    ck_assert_int_eq(paligemma_parse_boxes("<loc1024><loc0002><loc0003><loc0004> x", boxes, 4), 0);
    ck_assert_int_eq(paligemma_parse_boxes("red circle ; blue square", boxes, 4), 0);
    ck_assert_int_eq(paligemma_parse_boxes("", boxes, 4), 0);
}
END_TEST

START_TEST(parse_stops_at_max_boxes)
{
    paligemma_box boxes[1];
    const char *text = "<loc0001><loc0002><loc0003><loc0004> a ; <loc0005><loc0006><loc0007><loc0008> b";
    ck_assert_int_eq(paligemma_parse_boxes(text, boxes, 1), 1);
    ck_assert_str_eq(boxes[0].label, "a");
}
END_TEST

START_TEST(draw_frame_at_scaled_corners)
{
    /* A gray 100 x 50 image; one box from (x, y) = (10, 20) to (60, 40) in pixels. */
    char input[] = "/tmp/test_boxes_in_XXXXXX";
    char output[] = "/tmp/test_boxes_out_XXXXXX";
    int fd_in = mkstemp(input), fd_out = mkstemp(output);
    ck_assert(fd_in >= 0 && fd_out >= 0);
    close(fd_in);
    close(fd_out);
    enum { W = 100, H = 50 };
    static unsigned char gray[W * H * 3];
    memset(gray, 128, sizeof gray);
    ck_assert(stbi_write_png(input, W, H, 3, gray, 3 * W));

    /* bin = pixel / side * 1023: x 10 -> 102.3, y 20 -> 409.2, x 60 -> 613.8, y 40 -> 818.4. */
    paligemma_box box = {.y_min = 409, .x_min = 102, .y_max = 818, .x_max = 614, .label = "x"};
    pg_error err;
    ck_assert_int_eq(paligemma_draw_boxes(input, &box, 1, output, &err), 0);

    int w, h, c;
    unsigned char *drawn = stbi_load(output, &w, &h, &c, 3);
    ck_assert_ptr_nonnull(drawn);
    ck_assert_int_eq(w, W);
    ck_assert_int_eq(h, H);
    /* The frame's left bar is at x = 10, 11; the box inside and the image outside keep the gray. */
    const unsigned char *left = &drawn[3 * (30 * W + 10)];
    ck_assert(left[0] != 128 || left[1] != 128 || left[2] != 128);
    ck_assert_int_eq(drawn[3 * (30 * W + 30)], 128);
    ck_assert_int_eq(drawn[3 * (30 * W + 80)], 128);
    ck_assert_int_eq(drawn[3 * (30 * W + 8)], 128);
    stbi_image_free(drawn);
    remove(input);
    remove(output);
}
END_TEST

START_TEST(draw_reports_missing_image)
{
    paligemma_box box = {.y_min = 0, .x_min = 0, .y_max = 1023, .x_max = 1023, .label = "x"};
    pg_error err;
    ck_assert_int_eq(paligemma_draw_boxes("/nonexistent/in.png", &box, 1, "/tmp/unused.png", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/in.png"));
}
END_TEST

Suite *boxes_suite(void)
{
    Suite *s = suite_create("boxes");
    TCase *tc = tcase_create("boxes");
    tcase_add_test(tc, parse_two_objects);
    tcase_add_test(tc, parse_rejects_malformed_tokens);
    tcase_add_test(tc, parse_stops_at_max_boxes);
    tcase_add_test(tc, draw_frame_at_scaled_corners);
    tcase_add_test(tc, draw_reports_missing_image);
    suite_add_tcase(s, tc);
    return s;
}
