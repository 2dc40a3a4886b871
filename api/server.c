/* placeholder */
int api_placeholder(void);
int api_placeholder(void) { return 0; }
