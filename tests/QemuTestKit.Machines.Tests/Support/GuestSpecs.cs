using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Tests.Support;

/// <summary>Specs of the test guest.</summary>
internal static class GuestSpecs
{
    public static MachineSpec Hello(string name, string? kernel = null, string? initrd = null)
    {
        var guest = TestGuest.Load();
        return new MachineSpec
        {
            Name = name,
            MachineType = "q35",
            Cpu = "max",
            MemoryMiB = 256,
            Kernel = kernel ?? guest.Kernel,
            Initrd = initrd ?? guest.Initrd,
            Append = guest.Append,
            Ready = new ReadyCondition(guest.ReadyPattern, TimeoutSeconds: 180),
        };
    }

    /// <summary>The test guest of another architecture on the machine it is built for.</summary>
    public static MachineSpec For(string architecture, string name)
    {
        var guest = TestGuest.Load(architecture);
        return new MachineSpec
        {
            Name = name,
            Architecture = guest.Architecture,
            MachineType = guest.MachineType,
            Cpu = guest.Cpu,
            MemoryMiB = 256,
            Kernel = guest.Kernel,
            Initrd = guest.Initrd,
            Append = guest.Append,
            Ready = new ReadyCondition(guest.ReadyPattern, TimeoutSeconds: 300),
        };
    }
}
