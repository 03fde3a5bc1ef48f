# The parity suite: each scenario over REST and gRPC, plaintext (and TLS when the test CA
# script is there), identical structs and statuses.
add_executable(test_client_parity test_client_parity.c)
target_link_libraries(test_client_parity PRIVATE ee_test_support eeclient_static ee_warnings)
add_test(NAME client.parity_plaintext COMMAND test_client_parity)
set_tests_properties(client.parity_plaintext PROPERTIES LABELS client
  ENVIRONMENT "EE_EMULATOR=$<TARGET_FILE:ee-emulator>" TIMEOUT 180)
if(EXISTS ${PROJECT_SOURCE_DIR}/tests/support/make_test_ca.sh)
  add_test(NAME client.parity_tls
    COMMAND sh -c "d=$(mktemp -d) && bash '${PROJECT_SOURCE_DIR}/tests/support/make_test_ca.sh' \"$d\" >/dev/null && '$<TARGET_FILE:test_client_parity>' --tls \"$d\"; rc=$?; rm -rf \"$d\"; exit $rc")
  set_tests_properties(client.parity_tls PROPERTIES LABELS client
    ENVIRONMENT "EE_EMULATOR=$<TARGET_FILE:ee-emulator>" TIMEOUT 180)
endif()

# Faults and load: retries without duplicates, UNAVAILABLE after the configured attempts,
# 16 and 96 threads sharing one client, calls that end off the caller's loop.
add_executable(test_client_load test_client_load.c)
target_link_libraries(test_client_load PRIVATE ee_test_support eeclient_static ee_warnings)
foreach(t rest grpc)
  foreach(mode retries unavailable threads offthread manythreads)
    add_test(NAME client.${mode}_${t} COMMAND test_client_load ${mode} ${t})
    set_tests_properties(client.${mode}_${t} PROPERTIES LABELS client
      ENVIRONMENT "EE_EMULATOR=$<TARGET_FILE:ee-emulator>" TIMEOUT 300)
  endforeach()
endforeach()

# The README's client example, run over each transport.
add_executable(readme_export readme_export.c)
target_link_libraries(readme_export PRIVATE eeclient_static)
foreach(t rest grpc)
  add_test(NAME client.readme_export_${t}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/run_readme_export.sh $<TARGET_FILE:ee-emulator>
            $<TARGET_FILE:readme_export> ${t})
  set_tests_properties(client.readme_export_${t} PROPERTIES LABELS client TIMEOUT 60)
endforeach()

# Our wire checked by code we did not write: Python grpcio and json_format servers.
add_executable(client_call client_call.c)
target_link_libraries(client_call PRIVATE eeclient_static ee_warnings)
add_test(NAME client.interop_python
  COMMAND ${EE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_client_interop.py)
set_tests_properties(client.interop_python PROPERTIES LABELS client TIMEOUT 300
  ENVIRONMENT "CLIENT_CALL=$<TARGET_FILE:client_call>;EE_PYTHON_PROTO_DIR=${EE_PYTHON_PROTO_DIR};EE_INTEROP_DIR=${PROJECT_SOURCE_DIR}/tests/interop;PYTHONDONTWRITEBYTECODE=1")

add_test(NAME client.readme_in_sync
  COMMAND ${EE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/check_readme.py ${PROJECT_SOURCE_DIR}/README.md
          ${CMAKE_CURRENT_SOURCE_DIR}/readme_export.c)
set_tests_properties(client.readme_in_sync PROPERTIES LABELS client)
