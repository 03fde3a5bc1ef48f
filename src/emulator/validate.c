/* ee-emulator: ExportImageRequest validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

typedef Google__Earthengine__V1__ValueNode ValueNode;
typedef Google__Earthengine__V1__Expression Expression;

static ee_code invalid(ee_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ee_code invalid(ee_status *st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ee_status_vset(st, EE_INVALID_ARGUMENT, fmt, ap);
  va_end(ap);
  snprintf(st->reason, sizeof st->reason, "%s", "INVALID_ARGUMENT");
  snprintf(st->domain, sizeof st->domain, "%s", EMU_ERROR_DOMAIN);
  return EE_INVALID_ARGUMENT;
}

/* Formats a diagnostic path into out. Deep nesting can make a path longer than out:
 * then it keeps its head and ends in "...", so the message shows it was cut. */
static void sub_path(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sub_path(char *out, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, size, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n >= size && size >= 4) memcpy(out + size - 4, "...", 4);
}

/* A map key made safe to quote in a message: at most 64 printable ASCII characters. */
static void quote_key(const char *key, char *out, size_t size) {
  size_t j = 0;
  for (size_t i = 0; key[i] && j + 4 < size && i < 64; i++) {
    unsigned char c = (unsigned char)key[i];
    out[j++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
  }
  if (strlen(key) > 64 && j + 4 < size) {
    memcpy(out + j, "...", 3);
    j += 3;
  }
  out[j] = '\0';
}

static bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

/* One path segment of 1..max id characters, ending at '\0' or '/'; returns its length. */
static size_t id_segment(const char *s, size_t max) {
  size_t n = 0;
  while (s[n] && s[n] != '/' && id_char(s[n])) n++;
  if (s[n] && s[n] != '/') return 0;
  return n <= max ? n : 0;
}

bool emu_valid_project(const char *name) {
  if (strncmp(name, "projects/", 9) != 0) return false;
  size_t n = id_segment(name + 9, 100);
  return n > 0 && name[9 + n] == '\0';
}

bool emu_valid_operation_name(const char *name) {
  if (strlen(name) > EMU_MAX_NAME || strncmp(name, "projects/", 9) != 0) return false;
  const char *p = name + 9;
  size_t n = id_segment(p, 100);
  if (!n || strncmp(p + n, "/operations/", 12) != 0) return false;
  p += n + 12;
  n = id_segment(p, 100);
  return n > 0 && p[n] == '\0';
}

/* projects/{id}/assets/{seg}[/{seg}...], every segment a plain id. */
static bool valid_asset_name(const char *name) {
  if (strlen(name) > EMU_MAX_NAME || strncmp(name, "projects/", 9) != 0) return false;
  const char *p = name + 9;
  size_t n = id_segment(p, 100);
  if (!n || strncmp(p + n, "/assets/", 8) != 0) return false;
  p += n + 8;
  for (;;) {
    n = id_segment(p, 256);
    if (!n) return false;
    p += n;
    if (*p == '\0') return true;
    p++; /* the '/' */
  }
}

static ee_code check_request_id(const char *rid, ee_status *st) {
  size_t n = strlen(rid);
  if (n > EMU_MAX_REQUEST_ID)
    return invalid(st, "requestId: longer than %d characters", EMU_MAX_REQUEST_ID);
  for (size_t i = 0; i < n; i++) {
    char c = rid[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
      return invalid(st, "requestId: character %zu is not one of [A-Za-z0-9-]", i);
  }
  return EE_OK;
}

/* ---- expression graph ---- */

struct keyed {
  const char *key;
  size_t index; /* into expr->values */
};

/* The graph's top-level nodes, sorted by key, and the references between them. */
typedef struct graph {
  const Expression *expr;
  struct keyed *order; /* expr->values sorted by key */
  size_t *edge_start;  /* node i's edges are edges[edge_start[i] .. edge_start[i+1]) */
  size_t *edges;
  size_t n_edges, cap_edges;
} graph;

static int cmp_key(const void *a, const void *b) {
  return strcmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key);
}

/* Index in expr->values of key, or SIZE_MAX. */
static size_t graph_find(const graph *g, const char *key) {
  size_t lo = 0, hi = g->expr->n_values;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(g->order[mid].key, key);
    if (c == 0) return g->order[mid].index;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return SIZE_MAX;
}

static ee_code add_edge(graph *g, size_t to, ee_status *st) {
  if (g->n_edges == g->cap_edges) {
    size_t ncap = g->cap_edges ? g->cap_edges * 2 : 64;
    size_t *ne = realloc(g->edges, ncap * sizeof *ne);
    if (!ne) return ee_status_set(st, EE_INTERNAL, "out of memory");
    g->edges = ne;
    g->cap_edges = ncap;
  }
  g->edges[g->n_edges++] = to;
  return EE_OK;
}

/* A reference to a top-level node: it must resolve, and becomes an edge. */
static ee_code reference(graph *g, const char *path, const char *field, const char *key,
                         ee_status *st) {
  size_t to = graph_find(g, key);
  if (to == SIZE_MAX) {
    char q[80];
    quote_key(key, q, sizeof q);
    return invalid(st, "%s.%s: \"%s\" names no node in expression.values", path, field, q);
  }
  return add_edge(g, to, st);
}

static ee_code walk_node(graph *g, const ValueNode *node, const char *path, int depth,
                         ee_status *st);

/* Walks the ValueNodes of a map<string, ValueNode>. protobuf-c gives every
 * map<string, ValueNode> entry the same layout (base, key, value), so the argument map
 * of a FunctionInvocation is walked through the DictionaryValue entry type. */
static ee_code walk_map(graph *g, size_t n,
                        Google__Earthengine__V1__DictionaryValue__ValuesEntry **e, const char *path,
                        const char *field, int depth, ee_status *st) {
  for (size_t i = 0; i < n; i++) {
    char q[80], sub[512];
    quote_key(e[i]->key, q, sizeof q);
    sub_path(sub, sizeof sub, "%s.%s[\"%s\"]", path, field, q);
    if (walk_node(g, e[i]->value, sub, depth + 1, st) != EE_OK) return st->code;
  }
  return EE_OK;
}

static ee_code walk_invocation(graph *g, const Google__Earthengine__V1__FunctionInvocation *fi,
                               const char *path, int depth, ee_status *st) {
  char sub[512];
  sub_path(sub, sizeof sub, "%s.functionInvocationValue", path);
  if (fi->function_case == GOOGLE__EARTHENGINE__V1__FUNCTION_INVOCATION__FUNCTION__NOT_SET ||
      (fi->function_case == GOOGLE__EARTHENGINE__V1__FUNCTION_INVOCATION__FUNCTION_FUNCTION_NAME &&
       fi->function_name[0] == '\0'))
    return invalid(st, "%s: one of functionName or functionReference is required", sub);
  if (fi->function_case ==
          GOOGLE__EARTHENGINE__V1__FUNCTION_INVOCATION__FUNCTION_FUNCTION_REFERENCE &&
      reference(g, sub, "functionReference", fi->function_reference, st) != EE_OK)
    return st->code;
  return walk_map(g, fi->n_arguments,
                  (Google__Earthengine__V1__DictionaryValue__ValuesEntry **)fi->arguments, sub,
                  "arguments", depth, st);
}

static ee_code walk_node(graph *g, const ValueNode *node, const char *path, int depth,
                         ee_status *st) {
  char sub[512];
  if (depth > EMU_MAX_NODE_DEPTH)
    return invalid(st, "%s: nested deeper than %d", path, EMU_MAX_NODE_DEPTH);
  if (!node || node->kind_case == GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND__NOT_SET)
    return invalid(st, "%s: exactly one kind of value must be set", path);
  switch (node->kind_case) {
    case GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_VALUE_REFERENCE:
      return reference(g, path, "valueReference", node->value_reference, st);
    case GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_ARRAY_VALUE:
      for (size_t i = 0; i < node->array_value->n_values; i++) {
        sub_path(sub, sizeof sub, "%s.arrayValue.values[%zu]", path, i);
        if (walk_node(g, node->array_value->values[i], sub, depth + 1, st) != EE_OK)
          return st->code;
      }
      return EE_OK;
    case GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_DICTIONARY_VALUE:
      sub_path(sub, sizeof sub, "%s.dictionaryValue", path);
      return walk_map(g, node->dictionary_value->n_values, node->dictionary_value->values, sub,
                      "values", depth, st);
    case GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_FUNCTION_DEFINITION_VALUE:
      sub_path(sub, sizeof sub, "%s.functionDefinitionValue", path);
      return reference(g, sub, "body", node->function_definition_value->body, st);
    case GOOGLE__EARTHENGINE__V1__VALUE_NODE__KIND_FUNCTION_INVOCATION_VALUE:
      return walk_invocation(g, node->function_invocation_value, path, depth, st);
    default: return EE_OK; /* constants, integers, bytes, argument references */
  }
}

/* Iterative depth-first search (graphs from the network may be long chains). */
static ee_code find_cycle(const graph *g, ee_status *st) {
  size_t n = g->expr->n_values;
  unsigned char *colour = calloc(n ? n : 1, 1); /* 0 new, 1 on stack, 2 done */
  size_t *stack = malloc((n ? n : 1) * sizeof *stack), *next = malloc((n ? n : 1) * sizeof *next);
  ee_code rc = EE_OK;
  if (!colour || !stack || !next) {
    rc = ee_status_set(st, EE_INTERNAL, "out of memory");
    goto done;
  }
  for (size_t r = 0; r < n && rc == EE_OK; r++) {
    size_t root = g->order[r].index; /* key order: deterministic for any map order */
    if (colour[root]) continue;
    size_t top = 0;
    stack[top] = root;
    next[top] = g->edge_start[root];
    colour[root] = 1;
    while (top != SIZE_MAX && rc == EE_OK) {
      size_t v = stack[top];
      if (next[top] == g->edge_start[v + 1]) {
        colour[v] = 2;
        top--; /* wraps to SIZE_MAX when the root is done */
        continue;
      }
      size_t w = g->edges[next[top]++];
      if (colour[w] == 1) {
        /* Name the cycle by its smallest key, so the message does not depend on the
         * order the map arrived in (JSON and binary clients get the same answer). */
        const char *least = g->expr->values[w]->key;
        for (size_t i = top; stack[i] != w; i--)
          if (strcmp(g->expr->values[stack[i]]->key, least) < 0)
            least = g->expr->values[stack[i]]->key;
        char q[80];
        quote_key(least, q, sizeof q);
        rc = invalid(st, "expression.values: the graph has a cycle through node \"%s\"", q);
      } else if (colour[w] == 0) {
        colour[w] = 1;
        stack[++top] = w;
        next[top] = g->edge_start[w];
      }
    }
  }
done:
  free(colour);
  free(stack);
  free(next);
  return rc;
}

static ee_code build_graph(graph *g, ee_status *st) {
  const Expression *e = g->expr;
  size_t n = e->n_values;
  g->order = malloc((n ? n : 1) * sizeof *g->order);
  g->edge_start = malloc((n + 1) * sizeof *g->edge_start);
  if (!g->order || !g->edge_start) return ee_status_set(st, EE_INTERNAL, "out of memory");
  for (size_t i = 0; i < n; i++) g->order[i] = (struct keyed){e->values[i]->key, i};
  qsort(g->order, n, sizeof *g->order, cmp_key);
  for (size_t i = 1; i < n; i++) {
    if (strcmp(g->order[i].key, g->order[i - 1].key) == 0) {
      char q[80];
      quote_key(g->order[i].key, q, sizeof q);
      return invalid(st, "expression.values: duplicate key \"%s\"", q);
    }
  }
  for (size_t i = 0; i < n; i++) {
    char q[80], path[128];
    quote_key(e->values[i]->key, q, sizeof q);
    sub_path(path, sizeof path, "expression.values[\"%s\"]", q);
    g->edge_start[i] = g->n_edges;
    if (walk_node(g, e->values[i]->value, path, 0, st) != EE_OK) return st->code;
  }
  g->edge_start[n] = g->n_edges;
  return EE_OK;
}

static ee_code check_expression(const Expression *e, ee_status *st) {
  if (!e) return invalid(st, "expression: required");
  if (e->n_values == 0) return invalid(st, "expression.values: at least one node is required");
  graph g = {e, NULL, NULL, NULL, 0, 0};
  ee_code rc = build_graph(&g, st);
  if (rc == EE_OK && graph_find(&g, e->result) == SIZE_MAX) {
    char q[80];
    quote_key(e->result, q, sizeof q);
    rc = invalid(st, "expression.result: \"%s\" names no node in expression.values", q);
  }
  if (rc == EE_OK) rc = find_cycle(&g, st);
  free(g.order);
  free(g.edge_start);
  free(g.edges);
  return rc;
}

/* ---- destinations ---- */

static ee_code check_file_options(const Google__Earthengine__V1__ImageFileExportOptions *f,
                                  emu_export_plan *plan, ee_status *st) {
  if (f->file_format != GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__GEO_TIFF &&
      f->file_format != GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__TF_RECORD_IMAGE)
    return invalid(
        st, "fileExportOptions.fileFormat: image exports support GEO_TIFF or TF_RECORD_IMAGE");
  if (f->format_options_case ==
          GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__FORMAT_OPTIONS_GEO_TIFF_OPTIONS &&
      f->file_format != GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__GEO_TIFF)
    return invalid(st, "fileExportOptions.geoTiffOptions: only valid with fileFormat GEO_TIFF");
  if (f->format_options_case ==
          GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__FORMAT_OPTIONS_TF_RECORD_OPTIONS &&
      f->file_format != GOOGLE__EARTHENGINE__V1__IMAGE_FILE_FORMAT__TF_RECORD_IMAGE)
    return invalid(st,
                   "fileExportOptions.tfRecordOptions: only valid with fileFormat TF_RECORD_IMAGE");
  switch (f->destination_case) {
    case GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_DRIVE_DESTINATION:
      snprintf(plan->dest_uri, sizeof plan->dest_uri, "https://drive.google.com/");
      return EE_OK;
    case GOOGLE__EARTHENGINE__V1__IMAGE_FILE_EXPORT_OPTIONS__DESTINATION_CLOUD_STORAGE_DESTINATION: {
      const Google__Earthengine__V1__CloudStorageDestination *c = f->cloud_storage_destination;
      if (c->bucket[0] == '\0' || strlen(c->bucket) > 222 || strchr(c->bucket, '/'))
        return invalid(
            st, "fileExportOptions.cloudStorageDestination.bucket: a bucket name is required");
      if (strlen(c->filename_prefix) > EMU_MAX_NAME)
        return invalid(st, "fileExportOptions.cloudStorageDestination.filenamePrefix: too long");
      snprintf(plan->dest_uri, sizeof plan->dest_uri,
               "https://console.developers.google.com/storage/browser/%s/%s", c->bucket,
               c->filename_prefix);
      return EE_OK;
    }
    default:
      return invalid(st,
                     "fileExportOptions: exactly one of driveDestination or "
                     "cloudStorageDestination is required");
  }
}

static ee_code check_asset_options(const Google__Earthengine__V1__ImageAssetExportOptions *a,
                                   emu_export_plan *plan, ee_status *st) {
  if (a->destination_case !=
      GOOGLE__EARTHENGINE__V1__IMAGE_ASSET_EXPORT_OPTIONS__DESTINATION_EARTH_ENGINE_DESTINATION)
    return invalid(st, "assetExportOptions: earthEngineDestination is required");
  const char *name = a->earth_engine_destination->name;
  if (!valid_asset_name(name))
    return invalid(
        st, "assetExportOptions.earthEngineDestination.name: must look like projects/*/assets/**");
  plan->asset_name = name;
  plan->overwrite = a->earth_engine_destination->overwrite;
  snprintf(plan->dest_uri, sizeof plan->dest_uri, "https://code.earthengine.google.com/?asset=%s",
           name);
  return EE_OK;
}

static ee_code check_grid(const Google__Earthengine__V1__PixelGrid *grid, emu_export_plan *plan,
                          ee_status *st) {
  plan->pixels = -1;
  if (!grid || !grid->dimensions) return EE_OK;
  if (grid->dimensions->width <= 0 || grid->dimensions->height <= 0)
    return invalid(st, "grid.dimensions: width and height must be positive");
  plan->pixels = (int64_t)grid->dimensions->width * grid->dimensions->height;
  return EE_OK;
}

static ee_code check_scalars(const Google__Earthengine__V1__ExportImageRequest *req,
                             emu_export_plan *plan, ee_status *st) {
  if (!emu_valid_project(req->project))
    return invalid(st, "project: must look like projects/{project-id}");
  if (check_request_id(req->request_id, st) != EE_OK) return st->code;
  if (strlen(req->description) > EMU_MAX_NAME) return invalid(st, "description: too long");
  if (strlen(req->workload_tag) > 63) return invalid(st, "workloadTag: longer than 63 characters");
  plan->priority = req->priority ? req->priority->value : EMU_DEFAULT_PRIORITY;
  if (plan->priority < 0 || plan->priority > 9999)
    return invalid(st, "priority: must be between 0 and 9999");
  plan->max_pixels = req->max_pixels ? req->max_pixels->value : EMU_DEFAULT_MAX_PIXELS;
  if (plan->max_pixels <= 0) return invalid(st, "maxPixels: must be positive");
  if (req->max_workers && req->max_workers->value < 0)
    return invalid(st, "maxWorkers: must not be negative");
  return EE_OK;
}

ee_code emu_validate_export(const Google__Earthengine__V1__ExportImageRequest *req,
                            emu_export_plan *plan, ee_status *st) {
  memset(plan, 0, sizeof *plan);
  if (check_scalars(req, plan, st) != EE_OK) return st->code;
  if (check_expression(req->expression, st) != EE_OK) return st->code;
  if (check_grid(req->grid, plan, st) != EE_OK) return st->code;
  switch (req->export_options_case) {
    case GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_FILE_EXPORT_OPTIONS:
      return check_file_options(req->file_export_options, plan, st);
    case GOOGLE__EARTHENGINE__V1__EXPORT_IMAGE_REQUEST__EXPORT_OPTIONS_ASSET_EXPORT_OPTIONS:
      return check_asset_options(req->asset_export_options, plan, st);
    default:
      return invalid(
          st, "exportOptions: exactly one of fileExportOptions or assetExportOptions is required");
  }
}
