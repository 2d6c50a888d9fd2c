/*
 * Intrusive doubly linked lists: a node is any struct with `prev` and
 * `next` pointers to its own type, the list a pointer to its first node.
 * Macros, so one pair of lines serves every owner's node type (connections,
 * calls, bridges) without a container_of per use. Both are O(1) and leave
 * the node's own pointers NULL after unlinking, so a second unlink of a
 * node that is first in no list cannot corrupt the head.
 */
#ifndef CRID_DLIST_H
#define CRID_DLIST_H

/* Puts |node| first in the list whose first node is |head| (an lvalue). */
#define CRID_DLIST_PUSH(head, node)                                                                \
	do {                                                                                       \
		(node)->prev = NULL;                                                               \
		(node)->next = (head);                                                             \
		if (head)                                                                          \
			(head)->prev = (node);                                                     \
		(head) = (node);                                                                   \
	} while (0)

/* Takes |node| out of the list whose first node is |head| (an lvalue). */
#define CRID_DLIST_UNLINK(head, node)                                                              \
	do {                                                                                       \
		if ((node)->prev)                                                                  \
			(node)->prev->next = (node)->next;                                         \
		else if ((head) == (node))                                                         \
			(head) = (node)->next;                                                     \
		if ((node)->next)                                                                  \
			(node)->next->prev = (node)->prev;                                         \
		(node)->prev = (node)->next = NULL;                                                \
	} while (0)

#endif
