# Unit tests of the client core (src/client) over a scripted transport: retries and
# backoff, RetryInfo / Retry-After, requestId, validation, defaults, tokens, headers,
# deadlines, free and cancel while busy, the log, options, paging, wait_done, threads.
add_executable(test_client_unit test_client_unit.c fake_transport.c)
target_include_directories(test_client_unit PRIVATE ${PROJECT_SOURCE_DIR}/src/client
                           ${PROJECT_SOURCE_DIR}/src/transport)
target_link_libraries(test_client_unit PRIVATE eeclient_static Threads::Threads ee_warnings)
foreach(case unavailable codes null_status jitter retry_info request_id validation defaults token headers
        deadline free_busy cancel log options list wait_done threads)
  add_test(NAME client.unit_${case} COMMAND test_client_unit ${case})
  set_tests_properties(client.unit_${case} PROPERTIES LABELS client TIMEOUT 120)
endforeach()
