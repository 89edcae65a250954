namespace QemuTestKit.Containers; internal static class Placeholder { }
