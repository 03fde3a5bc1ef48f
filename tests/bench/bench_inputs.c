/* Deterministic benchmark inputs: realistic Earth Engine JSON, written directly as text
 * (not through our encoder, so the inputs do not depend on the code under test). */
#include "bench_inputs.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

const bench_case bench_cases[BENCH_CASES] = {
    {"expression_10k", "google.earthengine.v1.Expression"},
    {"list_operations_500", "google.longrunning.ListOperationsResponse"},
    {"export_request_small", "google.earthengine.v1.ExportImageRequest"},
};

/* xorshift64*: the same sequence everywhere. */
typedef struct rng {
  uint64_t s;
} rng;

static uint32_t next(rng *r) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return (uint32_t)((r->s * 2685821657736338717ULL) >> 32);
}

static uint32_t below(rng *r, uint32_t n) {
  return next(r) % n;
}

#define PICK(r, arr) (arr)[below((r), (uint32_t)(sizeof(arr) / sizeof((arr)[0])))]

static const char *const kFunctions[] = {
    "Image.load",
    "Image.select",
    "Image.addBands",
    "Image.normalizedDifference",
    "Image.reduceRegion",
    "Image.clip",
    "Image.updateMask",
    "Image.expression",
    "Collection.map",
    "Collection.filter",
    "Collection.reduce",
    "ImageCollection.load",
    "Filter.dateRangeContains",
    "Geometry.Polygon",
    "Reducer.median",
    "Number.add",
    "Image.rename",
    "Image.multiply",
    "Image.reproject",
    "Projection",
};
static const char *const kArgNames[] = {
    "input", "image", "collection", "bandSelectors", "newNames", "reducer", "geometry",  "scale",
    "crs",   "id",    "filter",     "baseAlgorithm", "image1",   "image2",  "maxPixels", "value",
};
static const char *const kBands[] = {"SR_B1", "SR_B2", "SR_B3",    "SR_B4",  "SR_B5",
                                     "SR_B6", "SR_B7", "QA_PIXEL", "ST_B10", "NDVI"};
static const char *const kAssets[] = {
    "LANDSAT/LC08/C02/T1_L2",
    "COPERNICUS/S2_SR_HARMONIZED",
    "USGS/SRTMGL1_003",
    "MODIS/061/MOD13Q1",
    "projects/my-project/assets/regions/california_counties",
};

typedef struct gen {
  rng r;
  ee_buf *out;
  ee_status *st;
  ee_code rc;
  long nodes; /* ValueNodes written so far */
} gen;

static void put(gen *g, const char *s) {
  if (g->rc == EE_OK) g->rc = ee_buf_append_str(g->out, s, g->st);
}

#define PUTF(g, ...)                                                               \
  do {                                                                             \
    if ((g)->rc == EE_OK) (g)->rc = ee_buf_printf((g)->out, (g)->st, __VA_ARGS__); \
  } while (0)

/* A decimal with a few fractional digits, as users type them (no float formatting
 * differences between printers can arise: every value is exact in its shortest form). */
static void put_number(gen *g) {
  switch (below(&g->r, 4)) {
    case 0: PUTF(g, "%u", below(&g->r, 100000)); break;
    case 1: PUTF(g, "%u.%u", below(&g->r, 1000), 1 + below(&g->r, 9)); break;
    case 2: PUTF(g, "-%u.%02u", 1 + below(&g->r, 180), 1 + below(&g->r, 98)); break;
    default: PUTF(g, "0.%04u", 1 + below(&g->r, 9998)); break;
  }
}

/* A google.protobuf.Value holding typical constants: strings, numbers, band lists,
 * polygon coordinates. */
static void put_constant(gen *g) {
  switch (below(&g->r, 6)) {
    case 0: PUTF(g, "\"%s\"", PICK(&g->r, kAssets)); break;
    case 1: put_number(g); break;
    case 2: {
      put(g, "[");
      int n = 1 + (int)below(&g->r, 4);
      for (int i = 0; i < n; i++) PUTF(g, "%s\"%s\"", i ? "," : "", PICK(&g->r, kBands));
      put(g, "]");
      break;
    }
    case 3: {
      put(g, "[[");
      int n = 3 + (int)below(&g->r, 4);
      for (int i = 0; i < n; i++) {
        PUTF(g, "%s[", i ? "," : "");
        put_number(g);
        put(g, ",");
        put_number(g);
        put(g, "]");
      }
      put(g, "]]");
      break;
    }
    case 4: put(g, below(&g->r, 2) ? "true" : "null"); break;
    default:
      PUTF(g, "{\"type\":\"Projection\",\"crs\":\"EPSG:%u\"}", 3000 + below(&g->r, 30000));
      break;
  }
}

/* One ValueNode; depth bounds nested arrays and dictionaries. key_count is the number of
 * top-level keys defined so far (references point backwards, like real graphs). */
static void put_node(gen *g, int depth, long key_count) {
  g->nodes++;
  uint32_t k = below(&g->r, 100);
  if (k < 38 && key_count > 0) {
    PUTF(g, "{\"valueReference\":\"%ld\"}", (long)below(&g->r, (uint32_t)key_count));
  } else if (k < 68) {
    put(g, "{\"constantValue\":");
    put_constant(g);
    put(g, "}");
  } else if (k < 74) {
    PUTF(g, "{\"integerValue\":\"%u\"}", below(&g->r, 1u << 30));
  } else if (k < 78) {
    PUTF(g, "{\"argumentReference\":\"_MAPPING_VAR_%u_0\"}", below(&g->r, 4));
  } else if (k < 90 && depth > 0) {
    put(g, "{\"arrayValue\":{\"values\":[");
    int n = 2 + (int)below(&g->r, 3);
    for (int i = 0; i < n; i++) {
      if (i) put(g, ",");
      put_node(g, depth - 1, key_count);
    }
    put(g, "]}}");
  } else if (depth > 0) {
    put(g, "{\"dictionaryValue\":{\"values\":{");
    int n = 2 + (int)below(&g->r, 3);
    for (int i = 0; i < n; i++) {
      PUTF(g, "%s\"%s%d\":", i ? "," : "", PICK(&g->r, kArgNames), i);
      put_node(g, depth - 1, key_count);
    }
    put(g, "}}}");
  } else {
    put(g, "{\"constantValue\":");
    put_number(g);
    put(g, "}");
  }
}

/* (a) An expression graph of ~10,000 ValueNodes: top-level invocations whose arguments
 * reference earlier nodes, hold constants, or nest arrays and dictionaries. */
static void make_expression(gen *g) {
  put(g, "{\"values\":{");
  long key = 0;
  while (g->nodes < 10000) {
    PUTF(g, "%s\"%ld\":", key ? "," : "", key);
    g->nodes++;
    if (below(&g->r, 20) == 0) {
      PUTF(g,
           "{\"functionDefinitionValue\":{\"argumentNames\":[\"_MAPPING_VAR_%u_0\"],\"body\":\"%"
           "ld\"}}",
           below(&g->r, 4), key > 0 ? (long)below(&g->r, (uint32_t)key) : 0L);
    } else {
      PUTF(g, "{\"functionInvocationValue\":{\"functionName\":\"%s\",\"arguments\":{",
           PICK(&g->r, kFunctions));
      int n = 1 + (int)below(&g->r, 4);
      for (int i = 0; i < n; i++) {
        PUTF(g, "%s\"%s\":", i ? "," : "", kArgNames[i * 4 + (int)below(&g->r, 4)]);
        put_node(g, 2, key);
      }
      put(g, "}}}");
    }
    key++;
  }
  PUTF(g, "},\"result\":\"%ld\"}", key - 1);
}

static void put_time(gen *g, uint32_t day, uint32_t sec) {
  /* 2024-01..12, fractional digits 0, 3 or 6 (as the service prints them). */
  uint32_t ms = below(&g->r, 1000);
  PUTF(g, "\"2024-%02u-%02uT%02u:%02u:%02u", 1 + day / 28 % 12, 1 + day % 28, sec / 3600 % 24,
       sec / 60 % 60, sec % 60);
  switch (below(&g->r, 3)) {
    case 0: put(g, "Z\""); break;
    case 1: PUTF(g, ".%03uZ\"", ms); break;
    default: PUTF(g, ".%03u%03uZ\"", ms, 1 + below(&g->r, 999)); break;
  }
}

static const char *const kStates[] = {"PENDING",   "RUNNING", "SUCCEEDED", "SUCCEEDED",
                                      "SUCCEEDED", "FAILED",  "CANCELLED", "CANCELLING"};

/* (b) A page of 500 operations with OperationMetadata in Any, some failed with a Status. */
static void make_operations(gen *g) {
  put(g, "{\"operations\":[");
  for (int i = 0; i < 500; i++) {
    const char *state = PICK(&g->r, kStates);
    uint32_t day = below(&g->r, 300), sec = below(&g->r, 80000);
    char id[25];
    for (int c = 0; c < 24; c++) id[c] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[below(&g->r, 32)];
    id[24] = '\0';
    PUTF(g,
         "%s{\"name\":\"projects/earthengine-demo/operations/%s\",\"metadata\":{\"@type\":"
         "\"type.googleapis.com/google.earthengine.v1.OperationMetadata\",\"state\":\"%s\","
         "\"description\":\"export_%s_%d\",\"type\":\"EXPORT_IMAGE\",\"priority\":%u,"
         "\"createTime\":",
         i ? "," : "", id, state, PICK(&g->r, kBands), i, 50 + below(&g->r, 100));
    put_time(g, day, sec);
    put(g, ",\"updateTime\":");
    put_time(g, day, sec + 600);
    if (state[0] != 'P') {
      put(g, ",\"startTime\":");
      put_time(g, day, sec + 30);
    }
    int failed = strcmp(state, "FAILED") == 0, cancelled = strcmp(state, "CANCELLED") == 0;
    int done = failed || cancelled || strcmp(state, "SUCCEEDED") == 0;
    if (done) {
      put(g, ",\"endTime\":");
      put_time(g, day, sec + 900);
    }
    if (done) {
      put(g, ",\"progress\":1");
    } else if (state[0] == 'R') {
      PUTF(g, ",\"progress\":0.%02u", 1 + below(&g->r, 98));
    }
    put(g, ",\"stages\":[");
    int ns = 1 + (int)below(&g->r, 3);
    static const char *const kStage[] = {"Create Local Files", "Upload to Google Drive",
                                         "Compute pixels", "Write output"};
    for (int s = 0; s < ns; s++) {
      uint32_t total = 1 + below(&g->r, 5000);
      PUTF(g,
           "%s{\"displayName\":\"%s\",\"completeWorkUnits\":%u,\"totalWorkUnits\":\"%u\","
           "\"description\":\"Stage %d of the export.\"}",
           s ? "," : "", PICK(&g->r, kStage), done ? total : below(&g->r, total), total, s + 1);
    }
    PUTF(g, "],\"attempt\":%u,\"scriptUri\":\"https://code.earthengine.google.com/%08x\"",
         1 + below(&g->r, 3), next(&g->r));
    if (done && !failed && !cancelled) {
      PUTF(g, ",\"destinationUris\":[\"https://drive.google.com/#folders/1a%08x%08x\"]",
           next(&g->r), next(&g->r));
    }
    PUTF(g, ",\"batchEecuUsageSeconds\":%u.%02u}", below(&g->r, 100000), 1 + below(&g->r, 98));
    if (done) put(g, ",\"done\":true");
    if (failed) {
      PUTF(g,
           ",\"error\":{\"code\":%u,\"message\":\"Image.reduceRegion: Computation timed out "
           "after %u s.\"}",
           3 + below(&g->r, 2), 60 + below(&g->r, 3000));
    } else if (cancelled) {
      put(g, ",\"error\":{\"code\":1,\"message\":\"Cancelled by user.\"}");
    }
    put(g, "}");
  }
  put(g, "],\"nextPageToken\":\"CgwI9pDfrQYQwK6BowI\"}");
}

/* (c) A small ExportImageRequest, as ee-export sends one. */
static void make_export_request(gen *g) {
  put(g,
      "{\"project\":\"projects/earthengine-demo\",\"expression\":{\"values\":{"
      "\"0\":{\"functionInvocationValue\":{\"functionName\":\"Image.load\",\"arguments\":"
      "{\"id\":{\"constantValue\":\"LANDSAT/LC08/C02/T1_L2/LC08_044034_20140318\"}}}},"
      "\"1\":{\"functionInvocationValue\":{\"functionName\":\"Image.select\",\"arguments\":"
      "{\"input\":{\"valueReference\":\"0\"},\"bandSelectors\":{\"constantValue\":"
      "[\"SR_B4\",\"SR_B3\",\"SR_B2\"]}}}}},\"result\":\"1\"},"
      "\"description\":\"landsat_rgb_sf\",\"maxPixels\":\"10000000000\","
      "\"grid\":{\"crsCode\":\"EPSG:32610\",\"affineTransform\":{\"scaleX\":30,"
      "\"translateX\":545000,\"scaleY\":-30,\"translateY\":4185000},"
      "\"dimensions\":{\"width\":2048,\"height\":2048}},\"requestId\":\"a1b2c3d4e5\","
      "\"workloadTag\":\"nightly\",\"priority\":100,"
      "\"fileExportOptions\":{\"fileFormat\":\"GEO_TIFF\",\"cloudStorageDestination\":"
      "{\"bucket\":\"my-exports\",\"filenamePrefix\":\"landsat/rgb_sf\",\"permissions\":"
      "\"DEFAULT_OBJECT_ACL\"},\"geoTiffOptions\":{\"cloudOptimized\":true,\"tileSize\":256,"
      "\"noData\":{\"floatValue\":-9999}}}}");
}

ee_code bench_make_input(int i, ee_buf *out, ee_status *st) {
  gen g = {{0x9e3779b97f4a7c15ULL + (uint64_t)i}, out, st, EE_OK, 0};
  switch (i) {
    case 0: make_expression(&g); break;
    case 1: make_operations(&g); break;
    case 2: make_export_request(&g); break;
    default: return ee_status_set(st, EE_INVALID_ARGUMENT, "no bench case %d", i);
  }
  return g.rc;
}
