/* ee-export image: an ExportImageRequest from --request and/or flags, then ExportImage.
 *
 * Flags are turned into a partial request in proto3 JSON, decoded like the --request
 * file, and merged over it the protobuf way (merge.c): a flag's scalar replaces the
 * file's, messages merge field by field, a flag naming another member of a oneof (another
 * destination, --crs over a WKT) replaces it. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char image_help[] =
    "usage: ee-export image [--request FILE|-] [flags] [--wait] [--dry-run]\n"
    "\n"
    "Starts an image export. The request is proto3 JSON of ExportImageRequest (wrapper\n"
    "fields may be bare values or {\"value\": x}); flags set or override its fields.\n"
    "\n"
    "  --request FILE|-          the request as JSON (- = stdin)\n"
    "  --expression FILE         the Expression graph as JSON\n"
    "  --description TEXT        task name\n"
    "  --asset NAME              export to an Earth Engine asset (projects/*/assets/**)\n"
    "    --overwrite             replace the asset if it exists\n"
    "    --pyramiding POLICY     MEAN, SAMPLE, MIN, MAX, MODE or MEDIAN\n"
    "    --pyramiding-override BAND=POLICY   per band (repeatable)\n"
    "  --drive-folder FOLDER     export files to Google Drive\n"
    "  --gcs-bucket BUCKET       export files to Cloud Storage\n"
    "    --file-prefix PREFIX    file name prefix\n"
    "    --format geotiff|tfrecord\n"
    "  --crs CODE | --crs-wkt FILE   output projection (e.g. EPSG:4326)\n"
    "  --crs-transform a,b,c,d,e,f   scaleX,shearX,translateX,shearY,scaleY,translateY\n"
    "  --dimensions WxH          output grid size in pixels\n"
    "  --max-pixels N            allow up to N pixels (service default 1e8)\n"
    "  --priority N              0..9999 (service default 100)\n"
    "  --workload-tag TAG        label for tracking\n"
    "  --request-id ID           idempotency key, [A-Za-z0-9-]{1,60} (default: a UUIDv4)\n"
    "  --wait                    follow the operation to its end (exit 3 if it fails)\n"
    "  --dry-run                 print the exact call as JSON and send nothing\n"
    "\n"
    "Examples:\n"
    "  ee-export image --request req.json --wait\n"
    "  ee-export image --expression graph.json --asset projects/p/assets/dem \\\n"
    "      --pyramiding MEAN --crs EPSG:4326 --dimensions 1024x1024 --dry-run\n"
    "  ee-export --transport grpc image --request req.json --drive-folder out \\\n"
    "      --file-prefix dem --format geotiff\n";

#define MAX_OVERRIDES 256

typedef struct image_flags {
  const char *request, *expression, *description, *asset, *pyramiding, *drive_folder;
  const char *gcs_bucket, *file_prefix, *format, *crs, *crs_wkt, *crs_transform, *dimensions;
  const char *max_pixels, *priority, *workload_tag, *request_id;
  const char *overrides[MAX_OVERRIDES];
  int n_overrides;
  bool overwrite, wait, dry_run;
} image_flags;

/* ---- a small JSON writer for the flags' partial request ---- */

static void jw_raw(ee_buf *b, const char *s) {
  ee_buf_append_str(b, s, NULL);
}

static void jw_str(ee_buf *b, const char *s) {
  jw_raw(b, "\"");
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      ee_buf_printf(b, NULL, "\\%c", ch);
    else if (ch < 0x20)
      ee_buf_printf(b, NULL, "\\u%04x", ch);
    else
      ee_buf_append(b, s, 1, NULL);
  }
  jw_raw(b, "\"");
}

/* ",\"key\":" (the first member of an object has no comma: callers open with '{' and a
 * member flag). */
static void jw_key(ee_buf *b, bool *first, const char *key) {
  if (!*first) jw_raw(b, ",");
  *first = false;
  jw_str(b, key);
  jw_raw(b, ":");
}

/* ---- flag values ---- */

static int parse_int64(const char *flag, const char *v, int64_t lo, int64_t hi, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return cli_usage("%s: \"%s\" is not an integer in %lld..%lld", flag, v, (long long)lo,
                     (long long)hi);
  *out = x;
  return 0;
}

static const char *const policies[] = {"MEAN", "SAMPLE", "MIN", "MAX", "MODE", "MEDIAN", NULL};

static int check_policy(const char *flag, const char *v) {
  for (int i = 0; policies[i]; i++)
    if (strcmp(v, policies[i]) == 0) return 0;
  return cli_usage("%s: \"%s\" is not a pyramiding policy (MEAN, SAMPLE, MIN, MAX, MODE, MEDIAN)",
                   flag, v);
}

static int write_transform(ee_buf *b, const char *v) {
  static const char *const names[6] = {"scaleX", "shearX", "translateX",
                                       "shearY", "scaleY", "translateY"};
  const char *p = v;
  bool first = true;
  jw_raw(b, "{");
  for (int i = 0; i < 6; i++) {
    char *end = NULL;
    errno = 0;
    double d = strtod(p, &end);
    if (errno || end == p || !isfinite(d) || (i < 5 ? *end != ',' : *end != '\0'))
      return cli_usage(
          "--crs-transform: \"%s\" is not six numbers a,b,c,d,e,f "
          "(scaleX,shearX,translateX,shearY,scaleY,translateY)",
          v);
    jw_key(b, &first, names[i]);
    ee_buf_printf(b, NULL, "%.17g", d);
    p = end + 1;
  }
  jw_raw(b, "}");
  return 0;
}

static int write_dimensions(ee_buf *b, const char *v) {
  char *end = NULL;
  long w = strtol(v, &end, 10);
  if (end == v || (*end != 'x' && *end != 'X') || w <= 0 || w > INT32_MAX)
    return cli_usage("--dimensions: \"%s\" is not WIDTHxHEIGHT", v);
  const char *h_text = end + 1;
  long h = strtol(h_text, &end, 10);
  if (end == h_text || *end || h <= 0 || h > INT32_MAX)
    return cli_usage("--dimensions: \"%s\" is not WIDTHxHEIGHT", v);
  ee_buf_printf(b, NULL, "{\"width\":%ld,\"height\":%ld}", w, h);
  return 0;
}

/* ---- the partial request ---- */

typedef enum dest_kind { DEST_NONE, DEST_ASSET, DEST_DRIVE, DEST_GCS } dest_kind;

/* The destination of a request decoded from --request, to know where --file-prefix goes. */
static dest_kind request_dest(const Google__Earthengine__V1__ExportImageRequest *r) {
  if (!r) return DEST_NONE;
  if (r->export_options_case ==
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_ASSET_EXPORT_OPTIONS)
    return DEST_ASSET;
  if (r->export_options_case !=
      GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS)
    return DEST_NONE;
  return r->file_export_options->destination_case ==
                 GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_CLOUD_STORAGE_DESTINATION
             ? DEST_GCS
             : DEST_DRIVE;
}

static int destination_from_flags(const image_flags *f, dest_kind from_request, dest_kind *out) {
  const char *given[3] = {NULL, NULL, NULL};
  int n = 0;
  if (f->asset) given[n++] = "--asset";
  if (f->drive_folder) given[n++] = "--drive-folder";
  if (f->gcs_bucket) given[n++] = "--gcs-bucket";
  if (n > 1) return cli_usage("two destinations: %s and %s (give one)", given[0], given[1]);
  *out = f->asset          ? DEST_ASSET
         : f->drive_folder ? DEST_DRIVE
         : f->gcs_bucket   ? DEST_GCS
                           : from_request;
  bool asset_flags = f->overwrite || f->pyramiding || f->n_overrides;
  bool file_flags = f->file_prefix || f->format;
  if (asset_flags && *out != DEST_ASSET)
    return cli_usage("%s applies to asset exports (give --asset)", f->overwrite ? "--overwrite"
                                                                   : f->pyramiding
                                                                       ? "--pyramiding"
                                                                       : "--pyramiding-override");
  if (file_flags && *out != DEST_DRIVE && *out != DEST_GCS)
    return cli_usage("%s applies to file exports (give --drive-folder or --gcs-bucket)",
                     f->file_prefix ? "--file-prefix" : "--format");
  return 0;
}

static int write_asset(ee_buf *b, const image_flags *f) {
  bool first = true;
  jw_raw(b, "{");
  if (f->asset || f->overwrite) {
    bool df = true;
    jw_key(b, &first, "earthEngineDestination");
    jw_raw(b, "{");
    if (f->asset) jw_key(b, &df, "name"), jw_str(b, f->asset);
    if (f->overwrite) jw_key(b, &df, "overwrite"), jw_raw(b, "true");
    jw_raw(b, "}");
  }
  if (f->pyramiding) jw_key(b, &first, "pyramidingPolicy"), jw_str(b, f->pyramiding);
  if (f->n_overrides) {
    bool of = true;
    jw_key(b, &first, "pyramidingPolicyOverrides");
    jw_raw(b, "{");
    for (int i = 0; i < f->n_overrides; i++) {
      const char *eq = strchr(f->overrides[i], '=');
      if (!eq || eq == f->overrides[i])
        return cli_usage("--pyramiding-override: \"%s\" is not BAND=POLICY", f->overrides[i]);
      if (check_policy("--pyramiding-override", eq + 1)) return EXIT_USAGE;
      char band[256];
      snprintf(band, sizeof band, "%.*s", (int)(eq - f->overrides[i]), f->overrides[i]);
      jw_key(b, &of, band);
      jw_str(b, eq + 1);
    }
    jw_raw(b, "}");
  }
  jw_raw(b, "}");
  return 0;
}

static int write_file(ee_buf *b, const image_flags *f, dest_kind dest) {
  bool first = true;
  jw_raw(b, "{");
  if (f->format) {
    const char *v = strcmp(f->format, "geotiff") == 0    ? "GEO_TIFF"
                    : strcmp(f->format, "tfrecord") == 0 ? "TF_RECORD_IMAGE"
                                                         : NULL;
    if (!v) return cli_usage("--format: \"%s\" is not geotiff or tfrecord", f->format);
    jw_key(b, &first, "fileFormat");
    jw_str(b, v);
  }
  if (f->drive_folder || f->gcs_bucket || f->file_prefix) {
    bool df = true;
    jw_key(b, &first, dest == DEST_GCS ? "cloudStorageDestination" : "driveDestination");
    jw_raw(b, "{");
    if (f->drive_folder) jw_key(b, &df, "folder"), jw_str(b, f->drive_folder);
    if (f->gcs_bucket) jw_key(b, &df, "bucket"), jw_str(b, f->gcs_bucket);
    if (f->file_prefix) jw_key(b, &df, "filenamePrefix"), jw_str(b, f->file_prefix);
    jw_raw(b, "}");
  }
  jw_raw(b, "}");
  return 0;
}

static int write_grid(ee_buf *b, const image_flags *f, const char *wkt) {
  bool first = true;
  jw_raw(b, "{");
  if (f->crs) jw_key(b, &first, "crsCode"), jw_str(b, f->crs);
  if (wkt) jw_key(b, &first, "crsWkt"), jw_str(b, wkt);
  if (f->crs_transform) {
    jw_key(b, &first, "affineTransform");
    if (write_transform(b, f->crs_transform)) return EXIT_USAGE;
  }
  if (f->dimensions) {
    jw_key(b, &first, "dimensions");
    if (write_dimensions(b, f->dimensions)) return EXIT_USAGE;
  }
  jw_raw(b, "}");
  return 0;
}

static int write_scalars(cli *c, ee_buf *b, bool *first, const image_flags *f) {
  int64_t n = 0;
  if (c->project_flag) jw_key(b, first, "project"), jw_str(b, c->project);
  if (f->description) jw_key(b, first, "description"), jw_str(b, f->description);
  if (f->workload_tag) jw_key(b, first, "workloadTag"), jw_str(b, f->workload_tag);
  if (f->request_id) jw_key(b, first, "requestId"), jw_str(b, f->request_id);
  if (f->max_pixels) {
    if (parse_int64("--max-pixels", f->max_pixels, 1, INT64_MAX, &n)) return EXIT_USAGE;
    jw_key(b, first, "maxPixels");
    ee_buf_printf(b, NULL, "\"%lld\"", (long long)n);
  }
  if (f->priority) {
    if (parse_int64("--priority", f->priority, 0, 9999, &n)) return EXIT_USAGE;
    jw_key(b, first, "priority");
    ee_buf_printf(b, NULL, "%lld", (long long)n);
  }
  return 0;
}

/* The flags as one JSON object (a partial ExportImageRequest). */
static int flags_json(cli *c, const image_flags *f, dest_kind from_request, ee_buf *b) {
  dest_kind dest = DEST_NONE;
  bool first = true;
  char *wkt = NULL, *expr = NULL;
  size_t len;
  int rc = destination_from_flags(f, from_request, &dest);
  if (!rc && f->crs && f->crs_wkt) rc = cli_usage("--crs and --crs-wkt: give one");
  if (!rc && f->pyramiding) rc = check_policy("--pyramiding", f->pyramiding);
  if (!rc && f->crs_wkt) rc = cli_read_file(f->crs_wkt, "--crs-wkt", &wkt, &len);
  if (!rc && f->expression) rc = cli_read_file(f->expression, "--expression", &expr, &len);
  if (!rc && expr) {
    /* Checked on its own first, so its errors name the file and a path inside it. */
    ee_json_decode_options o = EE_JSON_DECODE_OPTIONS_INIT;
    ProtobufCMessage *m = NULL;
    ee_status st;
    o.accept_wrapper_objects = true;
    if (ee_json_decode(&google__earthengine__v1__expression__descriptor, expr, len, &o, &m, &st) !=
        EE_OK)
      rc = cli_usage("--expression %s: %s", f->expression, st.message);
    ee_message_free(m);
  }
  jw_raw(b, "{");
  if (!rc) rc = write_scalars(c, b, &first, f);
  if (!rc && expr) jw_key(b, &first, "expression"), jw_raw(b, expr);
  if (!rc && (f->crs || wkt || f->crs_transform || f->dimensions)) {
    jw_key(b, &first, "grid");
    rc = write_grid(b, f, wkt);
  }
  bool asset = f->asset || f->overwrite || f->pyramiding || f->n_overrides;
  bool file = f->drive_folder || f->gcs_bucket || f->file_prefix || f->format;
  if (!rc && asset) jw_key(b, &first, "assetExportOptions"), rc = write_asset(b, f);
  if (!rc && file) jw_key(b, &first, "fileExportOptions"), rc = write_file(b, f, dest);
  jw_raw(b, "}");
  free(wkt);
  free(expr);
  return rc;
}

/* ---- decoding and merging ---- */

static int decode_request(const char *text, size_t len, const char *what, ProtobufCMessage **out) {
  ee_json_decode_options o = EE_JSON_DECODE_OPTIONS_INIT;
  ee_status st;
  o.accept_wrapper_objects = true;
  if (ee_json_decode(&google__earthengine__v1__export_image_request__descriptor, text, len, &o, out,
                     &st) != EE_OK)
    return cli_usage("%s: %s", what, st.message);
  return 0;
}

static int build_request(cli *c, const image_flags *f, ProtobufCMessage **out) {
  ProtobufCMessage *file = NULL, *flags = NULL;
  char *text = NULL;
  size_t len = 0;
  ee_buf b = EE_BUF_INIT;
  int rc = 0;
  *out = NULL;
  if (f->request) {
    rc = cli_read_file(f->request, "--request", &text, &len);
    if (!rc) {
      char what[600];
      snprintf(what, sizeof what, "--request %s", strcmp(f->request, "-") ? f->request : "(stdin)");
      rc = decode_request(text, len, what, &file);
    }
  }
  if (!rc) rc = flags_json(c, f, request_dest((void *)file), &b);
  if (!rc) rc = decode_request(b.data, b.len, "flags", &flags);
  if (!rc && file) rc = cli_merge(file, flags);
  if (!rc) {
    *out = file ? file : flags; /* the flags over the file */
    if (file) ee_message_free(flags);
  } else {
    ee_message_free(file);
    ee_message_free(flags);
  }
  ee_buf_free(&b);
  free(text);
  return rc;
}

/* ---- checks the client does not make ---- */

/* One path segment of an asset name: 1..100 of [A-Za-z0-9_-], as the service allows. */
static bool asset_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-';
}

static size_t asset_segment(const char *s) {
  size_t n = 0;
  while (asset_char(s[n])) n++;
  return (s[n] == '\0' || s[n] == '/') && n <= 100 ? n : 0;
}

/* projects/ID/assets/SEG[/SEG...] */
static bool valid_asset_name(const char *name) {
  if (strncmp(name, "projects/", 9) != 0) return false;
  const char *p = name + 9;
  size_t n = asset_segment(p);
  if (!n || strncmp(p + n, "/assets/", 8) != 0) return false;
  for (p += n + 8;; p += n + 1) {
    n = asset_segment(p);
    if (!n) return false;
    if (p[n] == '\0') return true;
  }
}

int cli_check_request(const ProtobufCMessage *m, const char *source) {
  const Google__Earthengine__V1__ExportImageRequest *r = (const void *)m;
  const Google__Earthengine__V1__ImageAssetExportOptions *a = r->asset_export_options;
  if (r->export_options_case !=
          GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_ASSET_EXPORT_OPTIONS ||
      !a || !a->earth_engine_destination)
    return 0;
  const char *name = a->earth_engine_destination->name ? a->earth_engine_destination->name : "";
  if (valid_asset_name(name)) return 0;
  return cli_usage(
      "%s%sassetExportOptions.earthEngineDestination.name: \"%.300s\" does not match "
      "projects/*/assets/** (segments of A-Z a-z 0-9 _ -)",
      source ? source : "", source ? ": " : "", name);
}

/* ---- the command ---- */

static int parse_image_flags(int argc, char **argv, image_flags *f) {
  memset(f, 0, sizeof *f);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(image_help, stdout);
      return EXIT_OK;
    }
    if (strcmp(a, "--overwrite") == 0) {
      f->overwrite = true;
      continue;
    }
    if (strcmp(a, "--wait") == 0) {
      f->wait = true;
      continue;
    }
    if (strcmp(a, "--dry-run") == 0) {
      f->dry_run = true;
      continue;
    }
    static const char *const names[] = {"--request",      "--expression",  "--description",
                                        "--asset",        "--pyramiding",  "--drive-folder",
                                        "--gcs-bucket",   "--file-prefix", "--format",
                                        "--crs",          "--crs-wkt",     "--crs-transform",
                                        "--dimensions",   "--max-pixels",  "--priority",
                                        "--workload-tag", "--request-id",  NULL};
    const char **slots[] = {&f->request,    &f->expression,   &f->description, &f->asset,
                            &f->pyramiding, &f->drive_folder, &f->gcs_bucket,  &f->file_prefix,
                            &f->format,     &f->crs,          &f->crs_wkt,     &f->crs_transform,
                            &f->dimensions, &f->max_pixels,   &f->priority,    &f->workload_tag,
                            &f->request_id};
    int k = 0;
    while (names[k] && strcmp(a, names[k]) != 0) k++;
    bool is_override = strcmp(a, "--pyramiding-override") == 0;
    if (!names[k] && !is_override)
      return cli_usage("image: unknown flag %s (see ee-export image --help)", a);
    if (cli_missing_value(argc, argv, i)) return EXIT_USAGE;
    if (is_override) {
      if (f->n_overrides == MAX_OVERRIDES)
        return cli_usage("--pyramiding-override: more than %d", MAX_OVERRIDES);
      f->overrides[f->n_overrides++] = argv[++i];
    } else {
      if (*slots[k]) return cli_usage("%s given twice", a);
      *slots[k] = argv[++i];
    }
  }
  return -1;
}

int cli_image(cli *c, int argc, char **argv) {
  image_flags f;
  int rc = parse_image_flags(argc, argv, &f);
  if (rc >= 0) return rc;
  ProtobufCMessage *req = NULL;
  rc = build_request(c, &f, &req);
  if (!rc) rc = cli_check_request(req, f.asset ? "--asset" : NULL);
  ee_client *client = rc ? NULL : cli_client(c, &rc);
  if (!client) {
    ee_message_free(req);
    return rc;
  }
  ee_status st;
  ee_buf call = EE_BUF_INIT;
  static const char rpc[] = "/google.earthengine.v1.EarthEngine/ExportImage";
  /* The same local checks the call makes, so a refused request exits 2, nothing sent. */
  if (ee_client_prepare(client, rpc, req, &call, &st) != EE_OK) {
    rc = cli_error(EXIT_USAGE, st.code, "%s", st.message);
  } else if (f.dry_run) {
    printf("%s\n", call.data);
  } else {
    Google__Longrunning__Operation *op = NULL;
    if (ee_client_export_image(client, (void *)req, NULL, &op, &st) != EE_OK)
      rc = cli_call_failed(&st);
    else if (f.wait)
      rc = cli_wait(c, op->name, 0);
    else if (c->json_output)
      cli_print_json(&op->base);
    else
      cli_print_operation(op);
    ee_message_free(op);
  }
  ee_buf_free(&call);
  ee_message_free(req);
  return rc;
}
