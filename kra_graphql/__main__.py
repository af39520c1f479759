from kra_graphql.cli import main

main()
