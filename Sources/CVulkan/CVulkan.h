// The Vulkan API's types and constants, without its function prototypes: SkiffVulkan loads the Vulkan
// library at run time (dlopen) and calls it through the pointers the loader hands out, so one binary runs
// on machines with and without Vulkan. The header comes from Debian's libvulkan-dev.
#define VK_NO_PROTOTYPES 1
#include <vulkan/vulkan.h>
